"""LangChain interop: our hybrid search as a `BaseRetriever`, chunks as LangChain `Document`s.

``LonghaulRetriever(retriever=Retriever.live(root), k=5).invoke("question", k=2, filters={"doc_type": "refund"})``:
``k``, ``filters`` and ``rerank`` are the retriever's defaults and may be given again on each call (sync or async).
A tenant is opened by name through `app.services.langchain.TenantRetriever`, which knows where the data lives.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from ingest.records import Chunk
from retrieval.retriever import Hit


class Searcher(Protocol):
    """What the adapter calls: `retrieval.retriever.Retriever` or anything with its ``search``."""

    def search(self, query: str, k: int = 20, filters: dict[str, Any] | None = None,
               rerank: bool = True) -> list[Hit]:
        """The top ``k`` hits for ``query``, best first, restricted by ``filters``."""
        ...


def chunk_to_document(chunk: Chunk) -> LCDocument:
    return LCDocument(page_content=chunk.text, metadata={"id": chunk.id, "source": chunk.source, **chunk.metadata})


def hit_to_document(hit: Hit) -> LCDocument:
    return LCDocument(
        page_content=hit.text, metadata={"id": hit.id, "source": hit.source, "score": hit.score, **hit.metadata}
    )


class LonghaulRetriever(BaseRetriever):
    """Hybrid retrieval (BM25, dense and key matches fused; optional cross-encoder) as a LangChain retriever.

    ``filters``: ``order_id``/``order_ids``, ``sku``, ``carrier``, ``fc``, ``exception_codes``, ``doc_type`` (a value
    or a list) and ``date_from``/``date_to`` (ISO, inclusive); an unknown key is a `ValueError` naming the known ones.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Any = None  # a Searcher (Any keeps pydantic from inspecting it)
    k: int = Field(default=20, ge=1, description="documents returned")
    filters: dict[str, Any] | None = None
    rerank: bool = Field(default=False, description="cross-encoder rerank; off by default as in `longhaul ask`, "
                                                    "`longhaul search` and the API (AskOptions.rerank)")

    def searcher(self) -> Searcher:
        """The search behind this retriever (a subclass may open it per call, e.g. a tenant's live version)."""
        if self.retriever is None:
            raise ValueError("LonghaulRetriever needs retriever=Retriever.load(...), or open a tenant by name with "
                             "app.services.langchain.TenantRetriever(tenant=...)")
        searcher: Searcher = self.retriever
        return searcher

    def _search(self, query: str, k: int | None, filters: dict[str, Any] | None,
                rerank: bool | None) -> list[LCDocument]:
        k = self.k if k is None else k
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k={k!r}: ask for at least one document (an int >= 1)")
        merged = {**(self.filters or {}), **(filters or {})} or None
        hits = self.searcher().search(query, k=k, filters=merged, rerank=self.rerank if rerank is None else rerank)
        return [hit_to_document(h) for h in hits]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                k: int | None = None, filters: dict[str, Any] | None = None,
                                rerank: bool | None = None) -> list[LCDocument]:
        """``k``, ``filters`` (merged over the retriever's own) and ``rerank`` given to ``invoke`` win for that call."""
        return self._search(query, k, filters, rerank)

    async def _aget_relevant_documents(self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun,
                                       k: int | None = None, filters: dict[str, Any] | None = None,
                                       rerank: bool | None = None) -> list[LCDocument]:
        """As the sync call, in a worker thread: the search is CPU-bound (tantivy, FAISS, torch release the GIL)."""
        return await asyncio.to_thread(self._search, query, k, filters, rerank)
