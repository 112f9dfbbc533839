"""RetrieverCache: the live version with a clear error, retrievers loaded with the cache's embedder, one entry per
tenant (a swap evicts the old version), the same object for concurrent readers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from app.core.db import Database
from app.core.settings import Settings
from app.services.ingest import ingest_directory
from app.services.retrievers import RetrieverCache
from tests.helpers.corpus_fixture import write_fixture_corpus
from tests.helpers.fakes import HashEmbedder


def test_cache_loads_with_its_embedder_and_keeps_one_version_per_tenant(tmp_path: Path) -> None:
    write_fixture_corpus(tmp_path, n_orders=20)
    docs, settings, emb = tmp_path / "docs", Settings(data_dir=tmp_path / "data"), HashEmbedder()
    cache = RetrieverCache(settings, embedder=emb)
    with pytest.raises(ValueError, match="longhaul ingest DIR --tenant acme"):
        cache.live_version("acme")
    with Database.of(settings) as db:
        v1 = ingest_directory(docs, "acme", settings, db.sessions, embedder=emb).version
        assert cache.live_version("acme") == v1
        first = cache.get("acme", v1)
        assert first.embedder is emb and first.version == v1  # the cache's embedder, not a default one
        with ThreadPoolExecutor(8) as pool:
            assert all(r is first for r in pool.map(lambda _: cache.get("acme", v1), range(16)))

        (docs / "notes" / "extra.txt").write_text("A new note about order #77777.\n")
        v2 = ingest_directory(docs, "acme", settings, db.sessions, embedder=emb).version
    assert v2 != v1 and cache.live_version("acme") == v2
    second = cache.live("acme")
    assert second.version == v2 and second is cache.get("acme", v2)
    assert cache.get("acme", v1) is not first  # loading v2 evicted v1: asking for it again loads it anew
