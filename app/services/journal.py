"""Uploads and deletions in the document store, all or nothing, and resumed after an interruption.

A change is written as a journal entry in ``<store>/.incoming/`` (the document id, the hash it will have, a hard
link to its previous content and a copy of the new one), then applied to the store with a rename, then recorded in
SQL by the build. On success the entry is settled at once; on a failure (an ``Exception``: bad input, a bug) the
previous content comes back and the entry is forgotten. On an interruption (the service stopping: a
``BaseException`` that is no ``Exception``) or a crash (settled by `recover_store` at startup) the previous content
comes back too, but the entry stays *pending*: the restarted service re-runs it (`pending_writes`), at most
``MAX_ATTEMPTS`` times. A document is therefore either in the store and in the database, or in neither.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.services.ingest import drop, write_atomic
from ingest.loaders import sha256_bytes

log = logging.getLogger(__name__)
INCOMING = ".incoming"
MAX_ATTEMPTS = 2  # a write interrupted this often (a document that kills its writer) is dropped, not retried


@dataclass(frozen=True)
class PendingWrite:
    """An interrupted upload (``content`` set) or deletion (``content`` None) to run again."""

    entry: Path
    doc_id: str
    content: bytes | None
    attempts: int


def _read(entry: Path) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(entry.read_text())
    return spec


def _begin(store: Path, doc_id: str, path: Path, sha: str | None, data: bytes | None, attempts: int) -> Path:
    """Write the journal entry (keeping the previous and the new content); returns the entry's path."""
    inc = store / INCOMING
    inc.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    prev = None
    if path.is_file():
        prev = f"{token}.prev"
        try:
            os.link(path, inc / prev)
        except OSError:  # a file system without hard links
            shutil.copy2(path, inc / prev)
    new = None
    if data is not None:
        new = f"{token}.new"
        write_atomic(inc / new, data)
    entry = inc / f"{token}.json"
    write_atomic(entry, json.dumps({"id": doc_id, "sha256": sha, "prev": prev, "new": new,
                                    "attempts": attempts}).encode())
    return entry


def _restore(store: Path, spec: dict[str, Any]) -> None:
    """Put the entry's document back as it was before the change (the previous content, or none)."""
    path = store / spec["id"]
    if spec["prev"]:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(store / INCOMING / spec["prev"], path)
    else:
        drop(store, spec["id"])


def _undo(store: Path, entry: Path, keep: bool) -> None:
    """Put the store back as it was; ``keep`` the entry pending (to run again) or forget it."""
    spec = _read(entry)
    _restore(store, spec)
    if keep:
        write_atomic(entry, json.dumps({**spec, "prev": None, "pending": True}).encode())
    else:
        forget(store, entry)


def bump(entry: Path) -> None:
    """Count one more run of a pending entry."""
    spec = _read(entry)
    write_atomic(entry, json.dumps({**spec, "attempts": int(spec.get("attempts", 0)) + 1}).encode())


def forget(store: Path, entry: Path) -> None:
    """Drop a settled entry and the contents it kept."""
    spec = _read(entry)
    for kept in (spec.get("prev"), spec.get("new")):
        if kept:
            (store / INCOMING / kept).unlink(missing_ok=True)
    entry.unlink(missing_ok=True)



@contextmanager
def _staged(store: Path, entry: Path) -> Iterator[None]:
    try:
        yield
    except Exception:
        _undo(store, entry, keep=False)
        raise
    except BaseException:  # interrupted, not failed: run again by the restarted service
        _undo(store, entry, keep=True)
        raise
    forget(store, entry)


@contextmanager
def staged_write(store: Path, doc_id: str, path: Path, data: bytes, attempts: int = 0) -> Iterator[str]:
    """Put ``data`` at ``path`` for the body (which records it); yields its sha256. Undone if the body raises
    (and kept pending when it was interrupted)."""
    sha = sha256_bytes(data)
    entry = _begin(store, doc_id, path, sha, data, attempts)
    with _staged(store, entry):
        write_atomic(path, data)
        yield sha


@contextmanager
def staged_delete(store: Path, doc_id: str, path: Path, attempts: int = 0) -> Iterator[None]:
    """Remove ``path`` for the body (which records the removal). Undone if the body raises (and kept pending when
    it was interrupted)."""
    entry = _begin(store, doc_id, path, None, None, attempts)
    with _staged(store, entry):
        drop(store, doc_id)
        yield


def pending_writes(store: Path) -> list[PendingWrite]:
    """The interrupted writes to run again, oldest first."""
    inc = store / INCOMING
    entries = sorted(inc.glob("*.json"), key=lambda p: p.stat().st_mtime) if inc.is_dir() else []
    out = []
    for entry in entries:
        spec = _read(entry)
        if spec.get("pending"):
            content = (inc / spec["new"]).read_bytes() if spec.get("new") else None
            out.append(PendingWrite(entry, spec["id"], content, int(spec.get("attempts", 0))))
    return out


def recover_store(store: Path, recorded: dict[str, str]) -> list[str]:
    """Settle the journal entries a crash left in ``store``; ``recorded`` is doc id -> sha256 as the database has
    it. A change the database recorded stays; one it did not is undone and kept pending (`pending_writes`).
    Returns one line per entry settled."""
    inc = store / INCOMING
    done: list[str] = []
    for entry in sorted(inc.glob("*.json")) if inc.is_dir() else []:
        try:
            spec = _read(entry)
        except (OSError, ValueError):
            entry.unlink(missing_ok=True)  # a torn entry: its change was never applied (written before the rename)
            continue
        if spec.get("pending"):
            continue  # settled before: waits to run again
        what = "upload" if spec["sha256"] else "deletion"
        if recorded.get(spec["id"]) == spec["sha256"]:
            forget(store, entry)
            done.append(f"{spec['id']}: kept (interrupted {what}, recorded)")
        elif spec.get("new") or not spec["sha256"]:
            _undo(store, entry, keep=True)
            done.append(f"{spec['id']}: rolled back, to be resumed (interrupted {what})")
        else:  # an entry from before new contents were kept: nothing to run again
            _undo(store, entry, keep=False)
            done.append(f"{spec['id']}: rolled back (interrupted {what})")
    stems = {p.name.split(".")[0] for p in inc.glob("*.json")} if inc.is_dir() else set()
    for leftover in inc.glob("*") if inc.is_dir() else []:
        if leftover.suffix != ".json" and leftover.name.split(".")[0] not in stems:
            leftover.unlink(missing_ok=True)  # a temp file or a content whose entry is settled
    return done
