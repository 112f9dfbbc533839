"""A tenant's documents managed through the API: files under ``<tenant>/docs`` ingested incrementally, and the
admin reindex that builds a new index version in the background and swaps it live atomically.

Writers of one tenant (ingest, delete, reindex) are serialised by a per-tenant lock; readers never wait: they keep
using the live version until the swap.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.core.db import SessionFactory
from app.core.rows import DocumentRow, IndexVersionRow, now_utc, point_tenant_at, retire_live_versions
from app.core.settings import Settings
from app.core.tenants import docs_dir, index_root
from app.services.ingest import IngestReport, ingest_directory
from retrieval.index import build_version, live_dir, load_chunks, load_vectors, next_version, prune, set_live

log = logging.getLogger(__name__)
SUFFIXES = (".jsonl", ".csv", ".md", ".txt", ".log")
DOC_ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*$")


def check_doc_id(doc_id: str) -> str:
    """A relative path with a known suffix; raises ValueError with the rule otherwise."""
    if len(doc_id) > 500 or not DOC_ID_RE.match(doc_id) or ".." in doc_id.split("/"):
        raise ValueError(f"document id {doc_id[:80]!r} must be a relative path of letters, digits, '_', '-', '.'")
    if not doc_id.endswith(SUFFIXES):
        raise ValueError(f"document id {doc_id[:80]!r} must end with one of {', '.join(SUFFIXES)}")
    return doc_id


def find_document(s: Session, tenant: str, doc_id: str) -> DocumentRow | None:
    return s.get(DocumentRow, (tenant, doc_id))


def reindex_status(s: Session, tenant: str, row_id: int) -> IndexVersionRow | None:
    """The reindex's index version row as stored now, or None when it is not this tenant's."""
    row = s.get(IndexVersionRow, row_id, populate_existing=True)
    return row if row is not None and row.tenant_id == tenant else None


class DocumentStore:
    """The writers of a tenant's documents and index: they record through ``sessions`` (the owner's factory)."""

    def __init__(self, settings: Settings, sessions: SessionFactory, embedder: Any = None) -> None:
        self.settings, self.sessions, self.embedder = settings, sessions, embedder
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def lock(self, tenant: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(tenant, threading.Lock())

    def put(self, tenant: str, doc_id: str, content: str) -> IngestReport:
        check_doc_id(doc_id)
        path = docs_dir(self.settings, tenant) / doc_id
        with self.lock(tenant):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(content, encoding="utf-8")
            os.replace(tmp, path)
            return self._ingest(tenant)

    def delete(self, tenant: str, doc_id: str) -> IngestReport | None:
        """None when the tenant has no such document."""
        path = docs_dir(self.settings, tenant) / check_doc_id(doc_id)
        with self.lock(tenant):
            if not path.is_file():
                with self.sessions() as s:
                    if find_document(s, tenant, doc_id) is None:
                        return None
            path.unlink(missing_ok=True)
            return self._ingest(tenant)

    def _ingest(self, tenant: str) -> IngestReport:
        root = docs_dir(self.settings, tenant)
        root.mkdir(parents=True, exist_ok=True)
        return ingest_directory(root, tenant, self.settings, self.sessions, embedder=self.embedder)

    # -- admin reindex -------------------------------------------------------------------------------------------

    def start_reindex(self, s: Session, tenant: str, reembed: bool = False) -> int:
        """Record a `building` index version row and return its id; call `run_reindex(id)` in the background."""
        if self.live_version(tenant) is None:
            raise LookupError(f"tenant {tenant!r} has no live index to rebuild: add documents first")
        row = IndexVersionRow(tenant_id=tenant, version="pending", path="", status="building", n_chunks=0,
                              n_embedded=-1 if reembed else 0)
        s.add(row)
        s.commit()
        return row.id

    def live_version(self, tenant: str) -> str | None:
        from retrieval.index import live_version

        return live_version(index_root(self.settings, tenant))

    def run_reindex(self, tenant: str, row_id: int) -> None:
        """Build a new version from the live one's chunks (re-embedding them when asked), then swap it live.

        The old version serves until `set_live`; a crash before it leaves the old version live and this row
        `building` (or `failed` when the error is caught).
        """
        root = index_root(self.settings, tenant)
        try:
            with self.lock(tenant):
                with self.sessions() as s:
                    building = s.get(IndexVersionRow, row_id)
                    assert building is not None, f"reindex row {row_id} was recorded by start_reindex"
                    reembed = building.n_embedded == -1
                src = live_dir(root)
                chunks = load_chunks(src)
                if reembed:
                    from retrieval.embed import Embedder

                    vectors = (self.embedder or Embedder()).encode([c.text for c in chunks])
                else:
                    vectors = load_vectors(src)
                version = next_version(root)
                vdir = build_version(root, version, chunks, vectors)
                with self.sessions() as s, s.begin():
                    retire_live_versions(s, tenant)
                    s.execute(update(IndexVersionRow).where(IndexVersionRow.id == row_id).values(
                        version=version, path=str(vdir), status="live", n_chunks=len(chunks),
                        n_embedded=len(chunks) if reembed else 0, created_at=now_utc()))
                    point_tenant_at(s, tenant, version)
                    set_live(root, version)
                prune(root, keep=2)
                log.info("reindex %s: %s live (%d chunks)", tenant, version, len(chunks))
        except Exception:
            log.exception("reindex %s (row %d) failed; the previous version stays live", tenant, row_id)
            with self.sessions() as s, s.begin():
                s.execute(update(IndexVersionRow).where(IndexVersionRow.id == row_id).values(status="failed"))
