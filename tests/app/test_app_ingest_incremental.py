"""Incremental ingest: unchanged -> nothing embedded; changed/new/deleted files; atomic swap; SQL records."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from app.core.db import Database
from app.core.rows import ChunkRow, DocumentRow, IndexVersionRow, TenantRow
from app.core.settings import Settings
from app.core.tenants import index_root
from app.services.ingest import ingest_directory
from app.services.retrievers import RetrieverCache
from retrieval.index import live_version
from retrieval.rerank import KeyMatchReranker
from tests.helpers.corpus_fixture import write_fixture_corpus
from tests.helpers.fakes import HashEmbedder


def _rows(db: Database, model, tenant: str) -> list:
    with db.sessions() as s:
        return list(s.scalars(select(model).where(model.tenant_id == tenant)))


def test_incremental_ingest(tmp_path: Path) -> None:
    write_fixture_corpus(tmp_path)
    docs = tmp_path / "docs"
    settings = Settings(data_dir=tmp_path / "data")
    db = Database.of(settings)
    emb = HashEmbedder()
    first = ingest_directory(docs, "acme", settings, db.sessions, embedder=emb)
    assert first.version == "v000001" and first.files_new == 12 and first.chunks_total > 100
    assert emb.embedded == first.chunks_embedded == len({c.sha256 for c in _rows(db, ChunkRow, "acme")})
    assert len(_rows(db, ChunkRow, "acme")) == first.chunks_total

    before = emb.embedded
    again = ingest_directory(docs, "acme", settings, db.sessions, embedder=emb)
    assert again.unchanged and again.version == "v000001" and emb.embedded == before  # embeds nothing

    log = docs / "scans" / "scans_2021_01.log"
    new_line = "2021-01-30T10:00:00Z SKX SKX0000000001 #99999 LEJ1 EXCEPTION EX-91 LITHIUM_HAZMAT_HOLD lithium hold"
    log.write_text(log.read_text() + new_line + "\n")
    (docs / "notes" / "MAD2_2021_03.md").unlink()
    (docs / "notes" / "extra.txt").write_text("A new note about order #77777.\n\nSecond paragraph.\n")
    changed = ingest_directory(docs, "acme", settings, db.sessions, embedder=emb)
    assert (changed.files_new, changed.files_changed, changed.files_deleted) == (1, 1, 1)
    assert changed.version == "v000002" and live_version(index_root(settings, "acme")) == "v000002"
    assert 0 < changed.chunks_embedded <= 3  # only the new shipment's chunk and the two new paragraphs
    assert emb.embedded == before + changed.chunks_embedded

    chunk_docs = {c.doc_id for c in _rows(db, ChunkRow, "acme")}
    assert "notes/MAD2_2021_03.md" not in chunk_docs and "notes/extra.txt" in chunk_docs
    assert {d.id for d in _rows(db, DocumentRow, "acme")} == {
        p.relative_to(docs).as_posix() for p in docs.rglob("*") if p.is_file()
    }
    versions = {v.version: v.status for v in _rows(db, IndexVersionRow, "acme")}
    assert versions == {"v000001": "retired", "v000002": "live"}
    with db.sessions() as s:
        assert s.get(TenantRow, "acme").live_version == "v000002"
    db.close()

    ret = RetrieverCache(settings, embedder=emb, reranker=KeyMatchReranker()).live("acme")
    assert ret.version == "v000002"
    hits = ret.search("order #99999 lithium hold", k=3)
    assert new_line in hits[0].text
    assert not any(h.metadata["doc_id"] == "notes/MAD2_2021_03.md" for h in ret.search("MAD2 warehouse notes", k=50))


def test_bad_tenant_and_unknown_tenant(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    sessions = Database.of(settings).sessions
    with pytest.raises(ValueError, match="not a valid name"):
        ingest_directory(tmp_path, "../evil", settings, sessions, embedder=HashEmbedder())
    with pytest.raises(ValueError, match="longhaul ingest DIR --tenant ghost"):
        RetrieverCache(settings).live_version("ghost")
    with pytest.raises(ValueError, match="not a valid name"):
        RetrieverCache(settings).live_version("../evil")
    with pytest.raises(FileNotFoundError, match="not a directory"):
        ingest_directory(tmp_path / "missing", "t", settings, sessions, embedder=HashEmbedder())


def test_empty_directory_gives_clear_error(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "empty.txt").write_text("")
    settings = Settings(data_dir=tmp_path / "data")
    with Database.of(settings) as db:
        report = ingest_directory(tmp_path / "docs", "t", settings, db.sessions, embedder=HashEmbedder())
    assert report.chunks_total == 0 and any("empty file" in i for i in report.issues)
    with pytest.raises(ValueError, match="empty"):
        RetrieverCache(settings).live("t")
