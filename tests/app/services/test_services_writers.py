"""The writers run apart from query serving (issue 20, item 2): in a child process at lowered priority, errors
crossing back as themselves; a stop interrupts the write under way at its next checkpoint with the store as it was
and the write kept to run again at the next start; a writer that dies mid-reindex is recovered (the reindex
`failed`) and the next write starts a fresh one."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from app.core.db import Database
from app.core.rows import IndexVersionRow
from app.core.settings import Settings
from app.core.tenants import docs_dir, index_root
from app.services.documents import DocumentStore, SourceConflict, find_document
from app.services.ingest import ingest_directory
from app.services.journal import pending_writes
from app.services.versions import recover
from app.services.writers import ProcessWriters, ThreadWriters, WritersBusy, WritersStopped, writers_for
from retrieval.index import live_dir, live_version, load_chunks
from tests.helpers.apps import SlowHashEmbedder
from tests.helpers.fakes import HashEmbedder
from tests.helpers.writers import BIG, wait_lock

NOTE = "# Notes\n\nOrder #100200 was delayed at LEJ1 by a scanner outage.\n"


def _store(tmp_path: Path) -> tuple[Settings, Database, DocumentStore]:
    settings = Settings(data_dir=tmp_path / "data")
    db = Database.of(settings)
    store = DocumentStore(settings, db.sessions, embedder=HashEmbedder())
    store.put("t1", "notes/a.md", NOTE)
    return settings, db, store


def _doc_ids(settings: Settings) -> set[str]:
    return {c.doc_id for c in load_chunks(live_dir(index_root(settings, "t1")))}


def test_process_writer_runs_writes_in_a_lower_priority_child(tmp_path: Path) -> None:
    settings, db, _ = _store(tmp_path)
    writers = ProcessWriters(settings, HashEmbedder())
    try:
        report = writers.submit("put", "t1", "notes/b.md", NOTE + "b\n").result(120)
        assert (report.files_new, report.version) == (1, "v000002")
        child = writers.pid
        assert child is not None and child != os.getpid()
        assert os.getpriority(os.PRIO_PROCESS, child) == os.getpriority(os.PRIO_PROCESS, 0) + settings.ingest_nice
        with pytest.raises(ValueError, match="which is a document"):
            writers.submit("put", "t1", "notes/b.md/c.md", "x").result(60)
        with pytest.raises(ValueError, match="unknown writer"):
            writers.submit("drop_everything", "t1")
    finally:
        writers.close(5)
    assert _doc_ids(settings) == {"notes/a.md", "notes/b.md"}
    db.close()


def test_source_conflict_crosses_the_process_boundary(tmp_path: Path) -> None:
    settings, db, _ = _store(tmp_path)
    folder = tmp_path / "folder"
    (folder / "cli").mkdir(parents=True)
    (folder / "cli" / "x.md").write_text(NOTE)
    ingest_directory(folder, "t1", settings, db.sessions, embedder=HashEmbedder())
    writers = ProcessWriters(settings, HashEmbedder())
    try:
        with pytest.raises(SourceConflict, match="ingested from"):
            writers.submit("delete", "t1", "cli/x.md").result(120)
    finally:
        writers.close(5)
    db.close()


@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_stop_interrupts_the_upload_under_way_and_the_next_start_resumes_it(tmp_path: Path, isolation: str) -> None:
    settings, db, store = _store(tmp_path)
    settings = settings.model_copy(update={"ingest_isolation": isolation})
    store.embedder = SlowHashEmbedder(0.2)
    writers = writers_for(settings, store, SlowHashEmbedder(0.2))
    live = live_version(index_root(settings, "t1"))
    fut = writers.submit("put", "t1", "bulk/big.txt", BIG)
    wait_lock(settings, "t1", held=True)
    time.sleep(1.0)
    t0 = time.monotonic()
    writers.stop()
    with pytest.raises(WritersStopped, match="runs again when the service starts"):
        fut.result(30)
    assert time.monotonic() - t0 < 3.0
    writers.close(5)
    assert not (docs_dir(settings, "t1") / "bulk" / "big.txt").exists()
    assert [w.doc_id for w in pending_writes(docs_dir(settings, "t1"))] == ["bulk/big.txt"]
    assert live_version(index_root(settings, "t1")) == live
    with db.sessions() as s:
        assert find_document(s, "t1", "bulk/big.txt") is None
    if isinstance(writers, ProcessWriters):
        with pytest.raises(WritersStopped, match="shutting down"):
            writers.submit("put", "t1", "notes/c.md", NOTE)
    writers.open()  # the next start
    assert writers.submit("resume", "t1").result(120) == ["t1: bulk/big.txt: resumed (upload)"]
    writers.close(5)
    assert _doc_ids(settings) == {"notes/a.md", "bulk/big.txt"}
    assert not any((docs_dir(settings, "t1") / ".incoming").iterdir())
    db.close()


def test_writer_killed_mid_reindex_is_recovered_and_replaced(tmp_path: Path) -> None:
    settings, db, store = _store(tmp_path)
    store.put("t1", "bulk/big.txt", BIG)
    writers = ProcessWriters(settings, SlowHashEmbedder(0.2), on_death=lambda: recover(settings, db.sessions))
    with db.sessions() as s:
        row_id = store.start_reindex(s, "t1", reembed=True)
    fut = writers.submit("run_reindex", "t1", row_id)
    wait_lock(settings, "t1", held=True)
    child = writers.pid
    assert child is not None
    os.kill(child, signal.SIGKILL)
    with pytest.raises(WritersStopped):
        fut.result(30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with db.sessions() as s:
            row = s.get(IndexVersionRow, row_id, populate_existing=True)
            if row is not None and row.status != "building":
                break
        time.sleep(0.05)
    assert row is not None and row.status == "failed" and "interrupted" in (row.detail or "")
    report = writers.submit("put", "t1", "notes/b.md", NOTE + "b\n").result(120)  # a fresh child
    assert report.files_new == 1 and writers.pid not in (None, child)
    writers.close(5)
    db.close()


def test_thread_writers_refuse_beyond_the_waiting_bound(tmp_path: Path) -> None:
    settings, db, store = _store(tmp_path)
    store.embedder = SlowHashEmbedder(0.2)
    writers = ThreadWriters(store, max_waiting=0)
    first = writers.submit("put", "t1", "bulk/big.txt", BIG)
    with pytest.raises(WritersBusy, match="waiting"):
        writers.submit("put", "t1", "notes/b.md", NOTE)
    assert first.result(120).files_new == 1
    writers.close(5)
    db.close()
