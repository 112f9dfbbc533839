"""The tenants' live `Retriever`s, one cached per tenant and replaced after a swap. The API's `AppState` owns one
`RetrieverCache`; a CLI command that searches builds its own."""

from __future__ import annotations

import threading
from typing import Protocol

import numpy as np

from app.core.settings import Settings
from app.core.tenants import check_tenant, index_root
from retrieval.index import live_version
from retrieval.rerank import Reranker
from retrieval.retriever import Retriever


class QueryEmbedder(Protocol):
    """What a retriever needs of an embedder (`retrieval.embed.Embedder`, `app.services.batching.BatchingEmbedder`)."""

    def encode_query(self, text: str) -> np.ndarray:
        """One query's unit-norm embedding, shape (DIM,) float32."""
        ...


class RetrieverCache:
    """`live_version(tenant)` reads the tenant's live index version; `get(tenant, version)` returns that version's
    retriever, loaded once with this cache's embedder and reranker. One entry per tenant: loading another version
    evicts the previous one. Thread-safe."""

    def __init__(self, settings: Settings, embedder: QueryEmbedder | None = None,
                 reranker: Reranker | None = None) -> None:
        self.settings, self.embedder, self.reranker = settings, embedder, reranker
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[str, Retriever]] = {}  # tenant -> (version, retriever)

    def live_version(self, tenant: str) -> str:
        """The tenant's live version; raises a clear error for an invalid tenant name or one never ingested."""
        version = live_version(index_root(self.settings, check_tenant(tenant)))
        if version is None:
            raise ValueError(f"tenant {tenant!r} has no index under {self.settings.data_dir}: run "
                             f"`longhaul ingest DIR --tenant {tenant}`")
        return version

    def get(self, tenant: str, version: str) -> Retriever:
        """The retriever of ``version`` of the tenant's index (e.g. the one `live_version` returned)."""
        root = index_root(self.settings, check_tenant(tenant))
        with self._lock:
            entry = self._entries.get(tenant)
            if entry is None or entry[0] != version:
                entry = (version, Retriever.load(root / version, embedder=self.embedder, reranker=self.reranker))
                self._entries[tenant] = entry
            return entry[1]

    def live(self, tenant: str) -> Retriever:
        """The retriever of the tenant's live version now."""
        return self.get(tenant, self.live_version(tenant))
