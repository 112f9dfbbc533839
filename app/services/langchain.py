"""A tenant's index as a LangChain retriever, opened by the tenant's name.

``TenantRetriever(tenant="demo", k=5).invoke("why was the refund late?", filters={"doc_type": "refund"})``: the data
directory comes from the settings (``LONGHAUL_DATA_DIR``, a `.env` file, or the user's data directory), and every call
searches the tenant's live index version at that moment, so a reindex is picked up without reopening.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import PrivateAttr, model_validator

from app.core.settings import Settings
from app.services.retrievers import QueryEmbedder, RetrieverCache
from retrieval.langchain import LonghaulRetriever, Searcher


class TenantRetriever(LonghaulRetriever):
    """`LonghaulRetriever` over ``tenant``'s live index; ``data_dir`` overrides the settings' data directory and
    ``embedder`` the query embedder (MiniLM unless given: an object with ``encode_query(text) -> (DIM,) float32``)."""

    tenant: str
    data_dir: Path | None = None
    embedder: Any = None  # a QueryEmbedder; None: the bundled MiniLM, loaded on the first query
    _cache: RetrieverCache = PrivateAttr()

    @model_validator(mode="after")
    def _open(self) -> TenantRetriever:
        settings = Settings() if self.data_dir is None else Settings(data_dir=self.data_dir)
        embedder: QueryEmbedder | None = self.embedder
        self._cache = RetrieverCache(settings, embedder=embedder)
        self._cache.live_version(self.tenant)  # now, not at the first query: a bad or empty tenant is named here
        return self

    def searcher(self) -> Searcher:
        return self._cache.live(self.tenant)
