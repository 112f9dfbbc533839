"""The live `Retriever` of a tenant, cached per (tenant, index version) and reloaded after a swap."""

from __future__ import annotations

import threading
from typing import Any

from app.core.settings import Settings
from app.services.ingest import check_tenant, index_root
from retrieval.index import live_version
from retrieval.retriever import Retriever

_lock = threading.Lock()
_cache: dict[tuple[str, str], Retriever] = {}


def get_retriever(tenant: str, settings: Settings, **kwargs: Any) -> Retriever:
    """The tenant's live retriever; raises a clear error for an unknown tenant or one never ingested."""
    check_tenant(tenant)
    root = index_root(settings, tenant)
    version = live_version(root)
    if version is None:
        raise ValueError(
            f"tenant {tenant!r} has no index under {settings.data_dir}: run `longhaul ingest DIR --tenant {tenant}`"
        )
    key = (str(root.resolve()), version)
    with _lock:
        if key not in _cache:
            for old in [k for k in _cache if k[0] == key[0]]:
                del _cache[old]
            _cache[key] = Retriever.load(root / version, **kwargs)
        return _cache[key]
