"""Crash consistency (issue 20, finding 4): a writer killed with -9 mid-reindex or mid-upload leaves, after the next
startup, a reindex marked `failed` with the reason and no half document; the next upload ingests only itself; the
interrupted uploads then run again (resume), a bounded number of times."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from app.api.main import create_app
from app.core.db import Database
from app.core.settings import Settings
from app.core.tenants import docs_dir, tenant_lock
from app.services.documents import DocumentStore, find_document
from app.services.journal import MAX_ATTEMPTS, bump, pending_writes
from app.services.versions import recover
from tests.app.api.test_api_schemathesis import InstantPipeline
from tests.helpers.fakes import HashEmbedder
from tests.helpers.sql import new_key

NOTE = "# Notes\n\nOrder #100200 was delayed at LEJ1 by a scanner outage.\n"
REPLACED = "# Replaced\n\nnothing left\n"
ROOT = Path(__file__).resolve().parents[2]

# Runs in a child process that is killed with -9 while `PATCH` blocks (after it printed READY).
CHILD = """
import sys, time
from app.core.db import Database
from app.core.settings import Settings
from app.services import documents
from tests.helpers.fakes import HashEmbedder

def block(*args, **kwargs):
    print("READY", flush=True)
    time.sleep(600)

settings = Settings(data_dir=sys.argv[1])
db = Database.of(settings)
store = documents.DocumentStore(settings, db.sessions, embedder=HashEmbedder())
setattr(documents, sys.argv[2], block)
if sys.argv[2] == "build_version":
    with db.sessions() as s:
        row_id = store.start_reindex(s, "t1")
    print(row_id, flush=True)
    store.run_reindex("t1", row_id)
else:
    store.put("t1", sys.argv[3], sys.argv[4])
"""


def _kill_when_blocked(data: Path, *args: str) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(data), *args], stdout=subprocess.PIPE, text=True,
                             env=env, cwd=ROOT)
    assert child.stdout is not None
    lines = []
    while (line := child.stdout.readline().strip()) != "READY":
        assert line or child.poll() is None, f"the child exited early ({child.poll()})"
        lines.append(line)
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    return lines


def _store(settings: Settings) -> tuple[Database, DocumentStore]:
    db = Database.of(settings)
    return db, DocumentStore(settings, db.sessions, embedder=HashEmbedder())


def test_reindex_killed_mid_build_is_failed_after_restart(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    db, store = _store(settings)
    store.put("t1", "notes/a.md", NOTE)
    live = store.live_version("t1")
    (row_id,) = _kill_when_blocked(tmp_path, "build_version")
    secret, _ = new_key(settings, "t1", ["admin"])
    with TestClient(create_app(settings, pipeline=InstantPipeline(), embedder=HashEmbedder())) as client:
        body = client.get(f"/admin/reindex/{row_id}", headers={"Authorization": f"Bearer {secret}"}).json()
    assert body["status"] == "failed" and "interrupted" in body["detail"], body
    assert store.live_version("t1") == live
    db.close()


def test_recovery_leaves_a_reindex_whose_writer_is_alive(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    db, store = _store(settings)
    store.put("t1", "notes/a.md", NOTE)
    with db.sessions() as s:
        row_id = store.start_reindex(s, "t1")
    with tenant_lock(settings, "t1"):  # another process is building it now
        assert recover(settings, db.sessions) == []
    assert any(f"reindex {row_id} marked failed" in line for line in recover(settings, db.sessions))
    db.close()


def test_upload_killed_mid_way_leaves_no_half_document_and_is_resumed(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    db, store = _store(settings)
    store.put("t1", "notes/a.md", NOTE)
    _kill_when_blocked(tmp_path, "build_from_store", "notes/new.md", "# New\n\nOrder #100300 arrived.\n")
    _kill_when_blocked(tmp_path, "build_from_store", "notes/a.md", REPLACED)
    store_dir = docs_dir(settings, "t1")
    assert (store_dir / "notes" / "new.md").exists()  # what the crash left, before recovery
    lines = recover(settings, db.sessions)
    assert sorted(lines) == ["t1: notes/a.md: rolled back, to be resumed (interrupted upload)",
                             "t1: notes/new.md: rolled back, to be resumed (interrupted upload)"]
    assert not (store_dir / "notes" / "new.md").exists()
    assert (store_dir / "notes" / "a.md").read_text() == NOTE
    assert recover(settings, db.sessions) == []  # settled once
    report = store.put("t1", "notes/b.md", "# B\n\nOrder #100400 shipped.\n")
    assert (report.files_new, report.files_changed, report.files_deleted) == (1, 0, 0)
    with db.sessions() as s:
        assert find_document(s, "t1", "notes/new.md") is None
        assert find_document(s, "t1", "notes/a.md").sha256 == report_sha(store_dir / "notes" / "a.md")
    assert sorted(store.resume("t1")) == ["t1: notes/a.md: resumed (upload)", "t1: notes/new.md: resumed (upload)"]
    assert (store_dir / "notes" / "a.md").read_text() == REPLACED
    assert not any((store_dir / ".incoming").iterdir())
    with db.sessions() as s:
        assert find_document(s, "t1", "notes/new.md") is not None
        assert find_document(s, "t1", "notes/a.md").sha256 == report_sha(store_dir / "notes" / "a.md")
    assert store.resume("t1") == []
    db.close()


def test_a_write_interrupted_too_often_is_dropped(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    db, store = _store(settings)
    store.put("t1", "notes/a.md", NOTE)
    for _ in range(MAX_ATTEMPTS + 1):
        _kill_when_blocked(tmp_path, "build_from_store", "notes/new.md", "# New\n\nOrder #100300 arrived.\n")
        recover(settings, db.sessions)
    pending = pending_writes(docs_dir(settings, "t1"))
    assert len(pending) == MAX_ATTEMPTS + 1 and {w.attempts for w in pending} == {0}
    for w in pending[1:]:  # as if each crash had been a resume's: counted
        for _ in range(MAX_ATTEMPTS):
            bump(w.entry)
    lines = store.resume("t1")
    assert sum("dropped after" in line for line in lines) == MAX_ATTEMPTS and "resumed (upload)" in lines[0]
    db.close()


def report_sha(path: Path) -> str:
    from ingest.loaders import sha256_bytes

    return sha256_bytes(path.read_bytes())
