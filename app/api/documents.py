"""POST /v1/documents, GET and DELETE /v1/documents/{id}: the key's tenant's documents, ingested incrementally;
GET /v1/documents (the list) and GET /v1/documents/{id}/text (a document as stored, with its records' lines)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.concurrency import run_in_threadpool

from app.api.deps import AdminKey, AgentKey, SessionDep, StateDep
from app.api.problems import COMMON, NOT_FOUND, OWNED, UNAVAILABLE
from app.api.schemas import DocumentIn, DocumentList, DocumentOut, DocumentText, IngestOut
from app.api.writes import write
from app.core.rows import DocumentRow
from app.services.documents import SourceConflict, check_doc_id, find_document
from app.services.ingest import IngestReport
from app.services.library import document_text, list_documents

router = APIRouter(prefix="/v1/documents", tags=["documents"])
DocId = Path(min_length=1, max_length=500, description="the document id (a relative path)")


def _report(r: IngestReport) -> dict[str, Any]:
    return {"tenant": r.tenant, "index_version": r.version, "unchanged": r.unchanged, "files_new": r.files_new,
            "files_changed": r.files_changed, "files_deleted": r.files_deleted, "chunks_total": r.chunks_total,
            "chunks_embedded": r.chunks_embedded, "issues": r.issues}


def _valid_id(doc_id: str) -> str:
    try:
        return check_doc_id(doc_id)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.post("", status_code=201, response_model=IngestOut, responses={**COMMON, **OWNED, **UNAVAILABLE})
async def put_document(body: DocumentIn, key: AdminKey, state: StateDep) -> dict[str, Any]:
    """Add or replace a document; the tenant's index is rebuilt incrementally (by the writer process, apart from
    query serving) and swapped live on return."""
    try:
        report = await write(state, "put", key.tenant, _valid_id(body.id), body.content)
    except SourceConflict as exc:
        raise HTTPException(409, str(exc)) from exc
    except ValueError as exc:  # the id collides with a folder of documents
        raise HTTPException(422, str(exc)) from exc
    return _report(report)


def _doc(row: DocumentRow) -> dict[str, Any]:
    return {"id": row.id, "tenant": row.tenant_id, "sha256": row.sha256, "doc_type": row.doc_type,
            "size_bytes": row.size_bytes, "n_chunks": row.n_chunks, "n_issues": row.n_issues,
            "source": "api" if row.source in ("", "api") else "folder", "ingested_at": row.ingested_at}


@router.get("", response_model=DocumentList, responses=COMMON)
async def documents(key: AgentKey, s: SessionDep, limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                    offset: Annotated[int, Query(ge=0, le=2**31)] = 0) -> dict[str, Any]:
    """The key's tenant's documents by id (API uploads and ingested folders)."""
    total, rows = await run_in_threadpool(list_documents, s, key.tenant, limit, offset)
    return {"total": total, "documents": [_doc(r) for r in rows]}


# before GET /{doc_id:path}, which would take ".../text" as part of the id (ids end in a known suffix, never /text)
@router.get("/{doc_id:path}/text", response_model=DocumentText, responses={**COMMON, **NOT_FOUND})
async def get_text(key: AgentKey, state: StateDep, s: SessionDep, doc_id: str = DocId) -> dict[str, Any]:
    """The document as stored, and each of its records' line range: a citation's ``path:first-last`` is found
    here."""
    found = await run_in_threadpool(document_text, state.settings, s, key.tenant, doc_id)
    if found is None:
        raise HTTPException(404, f"no document {doc_id[:80]!r} in this tenant")
    return {"id": found.row.id, "doc_type": found.row.doc_type, "text": found.text, "truncated": found.truncated,
            "records": [{"id": cid, "first": a, "last": b} for cid, a, b in found.records]}


@router.get("/{doc_id:path}", response_model=DocumentOut, responses={**COMMON, **NOT_FOUND})
async def get_document(key: AgentKey, s: SessionDep, doc_id: str = DocId) -> dict[str, Any]:
    row = await run_in_threadpool(find_document, s, key.tenant, doc_id)
    if row is None:
        raise HTTPException(404, f"no document {doc_id[:80]!r} in this tenant")
    return _doc(row)


@router.delete("/{doc_id:path}", response_model=IngestOut,
               responses={**COMMON, **NOT_FOUND, **OWNED, **UNAVAILABLE})
async def delete_document(key: AdminKey, state: StateDep, s: SessionDep, doc_id: str = DocId) -> dict[str, Any]:
    """Remove an API document; its chunks leave the index in the new version swapped live on return."""
    known = _id_ok(doc_id) and await run_in_threadpool(find_document, s, key.tenant, doc_id) is not None
    try:
        report = await write(state, "delete", key.tenant, doc_id) if known else None  # the writer checks again
    except SourceConflict as exc:
        raise HTTPException(409, str(exc)) from exc
    if report is None:
        raise HTTPException(404, f"no document {doc_id[:80]!r} in this tenant")
    return _report(report)


def _id_ok(doc_id: str) -> bool:
    try:
        check_doc_id(doc_id)
    except ValueError:
        return False
    return True
