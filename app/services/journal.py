"""Uploads and deletions in the document store, all or nothing.

A change is written as a journal entry in ``<store>/.incoming/`` (the document id, the hash it will have, and a
hard link to its previous content), then applied to the store with a rename, then recorded in SQL by the build. On
success or failure the entry is settled at once; after a crash `recover_store` settles it at startup: when the
database recorded the change it stays, otherwise the previous content comes back. A document is therefore either
in the store and in the database, or in neither.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.services.ingest import drop, write_atomic
from ingest.loaders import sha256_bytes

log = logging.getLogger(__name__)
INCOMING = ".incoming"


def _begin(store: Path, doc_id: str, path: Path, sha: str | None) -> Path:
    """Write the journal entry (and keep the previous content); returns the entry's path."""
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
    entry = inc / f"{token}.json"
    write_atomic(entry, json.dumps({"id": doc_id, "sha256": sha, "prev": prev}).encode())
    return entry


def _undo(store: Path, entry: Path) -> None:
    """Put the store back as it was before the entry's change, and forget the entry."""
    spec = json.loads(entry.read_text())
    path = store / spec["id"]
    if spec["prev"]:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(store / INCOMING / spec["prev"], path)
    else:
        drop(store, spec["id"])
    _forget(store, entry)


def _forget(store: Path, entry: Path) -> None:
    spec = json.loads(entry.read_text())
    if spec["prev"]:
        (store / INCOMING / spec["prev"]).unlink(missing_ok=True)
    entry.unlink(missing_ok=True)


@contextmanager
def staged_write(store: Path, doc_id: str, path: Path, data: bytes) -> Iterator[str]:
    """Put ``data`` at ``path`` for the body (which records it); yields its sha256. Undone if the body raises."""
    sha = sha256_bytes(data)
    entry = _begin(store, doc_id, path, sha)
    try:
        write_atomic(path, data)
        yield sha
    except BaseException:
        _undo(store, entry)
        raise
    _forget(store, entry)


@contextmanager
def staged_delete(store: Path, doc_id: str, path: Path) -> Iterator[None]:
    """Remove ``path`` for the body (which records the removal). Undone if the body raises."""
    entry = _begin(store, doc_id, path, None)
    try:
        drop(store, doc_id)
        yield
    except BaseException:
        _undo(store, entry)
        raise
    _forget(store, entry)


def recover_store(store: Path, recorded: dict[str, str]) -> list[str]:
    """Settle the journal entries a crash left in ``store``; ``recorded`` is doc id -> sha256 as the database has
    it. Returns one line per entry settled."""
    inc = store / INCOMING
    done: list[str] = []
    for entry in sorted(inc.glob("*.json")) if inc.is_dir() else []:
        try:
            spec = json.loads(entry.read_text())
        except (OSError, ValueError):
            entry.unlink(missing_ok=True)  # a torn entry: its change was never applied (written before the rename)
            continue
        committed = recorded.get(spec["id"]) == spec["sha256"]
        if committed:
            _forget(store, entry)
        else:
            _undo(store, entry)
        done.append(f"{spec['id']}: {'kept' if committed else 'rolled back'} (interrupted "
                    f"{'upload' if spec['sha256'] else 'deletion'})")
    for leftover in inc.glob("*") if inc.is_dir() else []:
        if leftover.suffix != ".json" and not any(inc.glob(f"{leftover.name.split('.')[0]}.json")):
            leftover.unlink(missing_ok=True)  # a temp file or a previous content whose entry is settled
    return done
