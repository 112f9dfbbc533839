"""POST /v1/documents, GET and DELETE /v1/documents/{id}: the key's tenant's documents, ingested incrementally."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Path
from fastapi.concurrency import run_in_threadpool

from app.api.deps import AdminKey, AgentKey, SessionDep, StateDep
from app.api.problems import COMMON, NOT_FOUND, OWNED
from app.api.schemas import DocumentIn, DocumentOut, IngestOut
from app.services.documents import SourceConflict, check_doc_id, find_document
from app.services.ingest import IngestReport

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


@router.post("", status_code=201, response_model=IngestOut, responses={**COMMON, **OWNED})
async def put_document(body: DocumentIn, key: AdminKey, state: StateDep) -> dict[str, Any]:
    """Add or replace a document; the tenant's index is rebuilt incrementally and swapped live on return."""
    try:
        report = await run_in_threadpool(state.store.put, key.tenant, _valid_id(body.id), body.content)
    except SourceConflict as exc:
        raise HTTPException(409, str(exc)) from exc
    except ValueError as exc:  # the id collides with a folder of documents
        raise HTTPException(422, str(exc)) from exc
    return _report(report)


@router.get("/{doc_id:path}", response_model=DocumentOut, responses={**COMMON, **NOT_FOUND})
async def get_document(key: AgentKey, s: SessionDep, doc_id: str = DocId) -> dict[str, Any]:
    row = await run_in_threadpool(find_document, s, key.tenant, doc_id)
    if row is None:
        raise HTTPException(404, f"no document {doc_id[:80]!r} in this tenant")
    return {"id": row.id, "tenant": row.tenant_id, "sha256": row.sha256, "doc_type": row.doc_type,
            "size_bytes": row.size_bytes, "n_chunks": row.n_chunks, "n_issues": row.n_issues,
            "ingested_at": row.ingested_at}


@router.delete("/{doc_id:path}", response_model=IngestOut, responses={**COMMON, **NOT_FOUND, **OWNED})
async def delete_document(key: AdminKey, state: StateDep, doc_id: str = DocId) -> dict[str, Any]:
    """Remove an API document; its chunks leave the index in the new version swapped live on return."""
    try:
        report = await run_in_threadpool(state.store.delete, key.tenant, doc_id) if _id_ok(doc_id) else None
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
