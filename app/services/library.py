"""The read side of a tenant's documents, for the console and other clients: the documents list, one document's
text with the line ranges of its records (so a citation's ``path:first-last`` can be shown inside its file), and the
index versions (recorded in SQL, and which of them are still on disk for a rollback)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.rows import ChunkRow, DocumentRow, IndexVersionRow
from app.core.settings import Settings
from app.core.tenants import docs_dir, index_root
from retrieval.index import live_version, versions

MAX_TEXT_BYTES = 4 * 2**20  # a longer document is shown up to here (`DocumentText.truncated`)
LINES_RE = re.compile(r":(\d+)-(\d+)$")


@dataclass(frozen=True)
class DocumentText:
    row: DocumentRow
    text: str
    truncated: bool
    records: list[tuple[str, int, int]]  # (chunk id, first line, last line), in file order


def list_documents(s: Session, tenant: str, limit: int, offset: int = 0) -> tuple[int, list[DocumentRow]]:
    """``(total, page)`` of the tenant's documents by id."""
    total = s.scalar(select(func.count()).select_from(DocumentRow).where(DocumentRow.tenant_id == tenant)) or 0
    page = s.scalars(select(DocumentRow).where(DocumentRow.tenant_id == tenant).order_by(DocumentRow.id)
                     .limit(limit).offset(offset)).all()
    return total, list(page)


def line_range(source: str) -> tuple[int, int] | None:
    """``(first, last)`` of a record's source ``path:first-last``, or None when it names no lines."""
    m = LINES_RE.search(source)
    return (int(m[1]), int(m[2])) if m else None


def document_text(settings: Settings, s: Session, tenant: str, doc_id: str) -> DocumentText | None:
    """The tenant's document ``doc_id`` as stored (every source keeps a copy in the tenant's store), or None when
    the tenant has no such document."""
    row = s.get(DocumentRow, (tenant, doc_id))
    if row is None:
        return None
    path = docs_dir(settings, tenant) / doc_id
    try:
        with path.open("rb") as f:
            data = f.read(MAX_TEXT_BYTES + 1)
    except FileNotFoundError:
        return None
    chunks = s.execute(select(ChunkRow.id, ChunkRow.source)
                       .where(ChunkRow.tenant_id == tenant, ChunkRow.doc_id == doc_id)).all()
    records = sorted(((cid, *lines) for cid, src in chunks if (lines := line_range(src))), key=lambda r: r[1:])
    text = data[:MAX_TEXT_BYTES].decode("utf-8", errors="replace")
    return DocumentText(row, text, len(data) > MAX_TEXT_BYTES, records)


@dataclass(frozen=True)
class VersionInfo:
    id: int
    version: str | None
    status: str
    n_chunks: int
    detail: str | None
    created_at: datetime
    on_disk: bool


def list_versions(settings: Settings, s: Session, tenant: str, limit: int = 50) -> tuple[str | None, list[VersionInfo]]:
    """``(live version, recorded versions newest first)``; ``on_disk`` tells which can be rolled back to."""
    root = index_root(settings, tenant)
    kept = set(versions(root))
    rows = s.scalars(select(IndexVersionRow).where(IndexVersionRow.tenant_id == tenant)
                     .order_by(IndexVersionRow.id.desc()).limit(limit)).all()
    out = [VersionInfo(r.id, None if r.version == "pending" else r.version, r.status, r.n_chunks, r.detail,
                       r.created_at, r.version in kept) for r in rows]
    return live_version(root), out
