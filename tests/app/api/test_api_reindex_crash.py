"""A reindex that fails mid-build leaves the old version live and is reported `failed`; a good one swaps."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.db import Database
from app.core.settings import Settings
from app.services import documents
from app.services.documents import DocumentStore, reindex_status
from tests.helpers.fakes import HashEmbedder


def test_failed_build_keeps_old_version_live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(data_dir=tmp_path)
    db = Database.of(settings)
    s = db.sessions()
    store = DocumentStore(settings, db.sessions, embedder=HashEmbedder())
    store.put("t1", "notes/a.md", "# Notes\n\nOrder #100200 was delayed at LEJ1 by a scanner outage.\n")
    live = store.live_version("t1")

    def crash(*args: object, **kwargs: object) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr(documents, "build_version", crash)
    row_id = store.start_reindex(s, "t1")
    assert reindex_status(s, "t1", row_id).status == "building"
    store.run_reindex("t1", row_id)
    assert reindex_status(s, "t1", row_id).status == "failed"
    assert store.live_version("t1") == live
    monkeypatch.undo()

    row_id = store.start_reindex(s, "t1", reembed=True)
    store.run_reindex("t1", row_id)
    row = reindex_status(s, "t1", row_id)
    assert row.status == "live" and row.version != live and store.live_version("t1") == row.version
    assert reindex_status(s, "other", row_id) is None
    with pytest.raises(LookupError):
        store.start_reindex(s, "never-ingested")
    s.close()
    db.close()
