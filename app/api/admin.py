"""POST /admin/reindex and GET /admin/reindex/{id}: rebuild the tenant's index in the background, swap it live;
POST /admin/reindex/rollback: make an earlier index version (still kept on disk) live again."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from fastapi.concurrency import run_in_threadpool

from app.api.deps import AdminKey, SessionDep, StateDep
from app.api.problems import COMMON, CONFLICT, NOT_FOUND, UNAVAILABLE
from app.api.schemas import ReindexIn, ReindexOut, RollbackIn, RollbackOut
from app.api.writes import submit
from app.services.documents import reindex_status as reindex_row
from app.services.versions import rollback

router = APIRouter(prefix="/admin", tags=["admin"])


def _out(row: Any) -> dict[str, Any]:
    return {"id": row.id, "tenant": row.tenant_id, "status": row.status, "n_chunks": row.n_chunks,
            "index_version": None if row.version == "pending" else row.version, "detail": row.detail}


@router.post("/reindex", status_code=202, response_model=ReindexOut,
             responses={**COMMON, **CONFLICT, **UNAVAILABLE})
async def reindex(key: AdminKey, state: StateDep, s: SessionDep, body: ReindexIn | None = None) -> dict[str, Any]:
    """Start building a new index version; the live one keeps serving until the atomic swap."""
    body = body or ReindexIn(reembed=False)
    try:
        row_id = await run_in_threadpool(state.store.start_reindex, s, key.tenant, body.reembed)
    except LookupError as exc:
        raise HTTPException(409, str(exc)) from exc
    try:
        submit(state, "run_reindex", key.tenant, row_id)  # the writer marks the row live or failed
    except HTTPException:
        await run_in_threadpool(state.store.fail_reindex, row_id, "not started: the writer refused it")
        raise
    row = await run_in_threadpool(reindex_row, s, key.tenant, row_id)
    return _out(row)


@router.post("/reindex/rollback", response_model=RollbackOut, responses={**COMMON, **NOT_FOUND})
async def reindex_rollback(body: RollbackIn, key: AdminKey, state: StateDep) -> dict[str, Any]:
    """Make an earlier index version live again, with the document records it was built with."""
    try:
        previous = await run_in_threadpool(rollback, state.settings, state.db.sessions, key.tenant, body.version)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc
    return {"tenant": key.tenant, "index_version": body.version, "previous": previous}


@router.get("/reindex/{reindex_id}", response_model=ReindexOut, responses={**COMMON, **NOT_FOUND})
async def reindex_status(reindex_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="a reindex id")],
                         key: AdminKey, s: SessionDep) -> dict[str, Any]:
    row = await run_in_threadpool(reindex_row, s, key.tenant, reindex_id)
    if row is None:
        raise HTTPException(404, f"no reindex {reindex_id} in this tenant")
    return _out(row)
