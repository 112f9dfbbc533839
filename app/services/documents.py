"""A tenant's documents managed through the API: uploads are the `api` source of the tenant's document store,
ingested incrementally; the admin reindex builds a new index version in the background and swaps it live atomically.

Writers of one tenant (ingest, delete, reindex, rollback; API or CLI) are serialised by the tenant lock; readers
never wait: they keep using the live version until the swap. An upload or deletion is journalled
(`app.services.journal`) so a crash leaves the store as the database records it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.core.db import SessionFactory
from app.core.rows import DocumentRow, IndexVersionRow, now_utc, point_tenant_at, retire_live_versions
from app.core.settings import Settings
from app.core.tenants import docs_dir, index_root, tenant_lock
from app.services.index_build import API_SOURCE, BuildOptions, Changes, IngestReport, build_from_store
from app.services.ingest import ingest_directory, place
from app.services.journal import MAX_ATTEMPTS, bump, forget, pending_writes, staged_delete, staged_write
from retrieval.index import (
    build_version,
    live_dir,
    load_chunks,
    load_documents,
    load_vectors,
    load_vocabulary,
    next_version,
    prune,
    set_live,
)

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


class SourceConflict(Exception):
    """The document belongs to another source (an ingested folder): the API may not replace or delete it."""


def _owned_by_api(row: DocumentRow | None, doc_id: str) -> None:
    if row is not None and row.source not in ("", API_SOURCE):
        raise SourceConflict(f"document {doc_id[:80]!r} was ingested from {row.source[:200]}: change or remove it "
                             "there and run `longhaul ingest` again")


class DocumentStore:
    """The writers of a tenant's documents and index: they record through ``sessions`` (the owner's factory)."""

    def __init__(self, settings: Settings, sessions: SessionFactory, embedder: Any = None,
                 checkpoint: Callable[[], None] | None = None, count: Callable[[str], int] | None = None) -> None:
        """``checkpoint``: called between a build's files and embedding batches; it raises to abandon the write
        (the service stopping), which leaves the store and the index as they were. ``count``: the engine
        tokenizer's token count (default: loaded by each build)."""
        self.settings, self.sessions, self.embedder, self.count = settings, sessions, embedder, count
        self.checkpoint = checkpoint or (lambda: None)

    def _progress(self, stage: str, done: int, total: int) -> None:
        if stage != "index":  # once the version is written, the build finishes: the swap follows at once
            self.checkpoint()

    def lock(self, tenant: str) -> Any:
        return tenant_lock(self.settings, tenant)

    def put(self, tenant: str, doc_id: str, content: str, attempts: int = 0) -> IngestReport:
        """Add or replace an API document; SourceConflict when another source owns the id, ValueError when the id
        collides with a folder of documents. ``attempts``: earlier interrupted runs of this write (`resume`)."""
        check_doc_id(doc_id)
        data = content.encode("utf-8")
        store = docs_dir(self.settings, tenant)
        with self.lock(tenant):
            with self.sessions() as s:
                _owned_by_api(find_document(s, tenant, doc_id), doc_id)
            path = place(store, doc_id)
            with staged_write(store, doc_id, path, data, attempts) as sha:
                return self._build(tenant, Changes(API_SOURCE, changed={doc_id: sha}))

    def delete(self, tenant: str, doc_id: str, attempts: int = 0) -> IngestReport | None:
        """None when the tenant has no such document; SourceConflict when another source owns it."""
        check_doc_id(doc_id)
        store = docs_dir(self.settings, tenant)
        with self.lock(tenant):
            with self.sessions() as s:
                row = find_document(s, tenant, doc_id)
            if row is None:
                return None
            _owned_by_api(row, doc_id)
            with staged_delete(store, doc_id, store / doc_id, attempts):
                return self._build(tenant, Changes(API_SOURCE, removed={doc_id}))

    def resume(self, tenant: str) -> list[str]:
        """Run again the uploads and deletions an interruption left pending in the journal, oldest first (each
        at most `MAX_ATTEMPTS` times); one line each."""
        store = docs_dir(self.settings, tenant)
        lines = []
        for w in pending_writes(store):
            if w.attempts >= MAX_ATTEMPTS:
                forget(store, w.entry)
                lines.append(f"{tenant}: {w.doc_id}: dropped after {w.attempts} interrupted runs")
                continue
            bump(w.entry)  # counted before the run: a document that kills its writer is not retried for ever
            try:
                if w.content is None:
                    self.delete(tenant, w.doc_id, attempts=w.attempts + 1)
                else:
                    self.put(tenant, w.doc_id, w.content.decode("utf-8"), attempts=w.attempts + 1)
                lines.append(f"{tenant}: {w.doc_id}: resumed ({'deletion' if w.content is None else 'upload'})")
            except Exception as exc:  # noqa: BLE001 - a write that fails now is reported, not retried
                lines.append(f"{tenant}: {w.doc_id}: not resumed: {type(exc).__name__}: {exc}")
            finally:
                forget(store, w.entry)  # interrupted again, the run above left its own pending entry
        for line in lines:
            log.warning("resume: %s", line)
        return lines

    def _build(self, tenant: str, changes: Changes) -> IngestReport:
        store = docs_dir(self.settings, tenant)
        return build_from_store(store, tenant, changes, self.settings, self.sessions, [],
                                BuildOptions(embedder=self.embedder, count=self.count,
                                                                   progress=self._progress))

    def _ingest(self, tenant: str) -> IngestReport:
        """Ingest every file placed in the store folder by hand as an API document."""
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

                    vectors = (self.embedder or Embedder()).encode(
                        [c.text for c in chunks], progress=lambda n: self._progress("embed", n, len(chunks)))
                else:
                    vectors = load_vectors(src)
                self.checkpoint()
                version = next_version(root)
                vdir = build_version(root, version, chunks, vectors, load_vocabulary(src),
                                     documents=load_documents(src))
                with self.sessions() as s, s.begin():
                    retire_live_versions(s, tenant)
                    s.execute(update(IndexVersionRow).where(IndexVersionRow.id == row_id).values(
                        version=version, path=str(vdir), status="live", n_chunks=len(chunks),
                        n_embedded=len(chunks) if reembed else 0, created_at=now_utc()))
                    point_tenant_at(s, tenant, version)
                    set_live(root, version)
                prune(root, keep=self.settings.index_keep_versions)
                log.info("reindex %s: %s live (%d chunks)", tenant, version, len(chunks))
        except BaseException as exc:  # an error, or the service stopping (re-raised below)
            log.exception("reindex %s (row %d) failed; the previous version stays live", tenant, row_id)
            self.fail_reindex(row_id, f"{type(exc).__name__}: {exc}")
            if not isinstance(exc, Exception):
                raise

    def fail_reindex(self, row_id: int, detail: str) -> None:
        """Mark the reindex failed with ``detail`` (the previous version stays live)."""
        with self.sessions() as s, s.begin():
            s.execute(update(IndexVersionRow).where(IndexVersionRow.id == row_id).values(
                status="failed", detail=detail[:1000]))
