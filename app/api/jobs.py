"""Reconciliation jobs: POST /v1/jobs/reconcile, GET /v1/jobs (list, by state), GET /v1/jobs/{id} (progress), its
results as JSONL or CSV, cancel and resume. Items run on Celery workers (Redis) or in this process."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from app.api.deps import AgentKey, SessionDep, StateDep
from app.api.problems import COMMON, NOT_FOUND, UNAVAILABLE, Responses
from app.api.schemas import JobList, JobOut, ReconcileIn
from app.api.state import AppState
from app.core.rows import JobRow
from app.services import jobs as J
from app.services.selections import delayed_refund_orders

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
RESULTS_DOC: Responses = {200: {"description": "one line per item, in order",
                     "content": {"application/x-ndjson": {"schema": {"type": "string"}},
                                 "text/csv": {"schema": {"type": "string"}}}}}


def _out(state: AppState, s: Session, tenant: str, job_id: str) -> dict[str, Any]:
    found = J.get_job(s, tenant, job_id)
    if found is None:
        raise HTTPException(404, f"no job {job_id[:40]!r} in this tenant")
    return _job(state, *found)


def _job(state: AppState, job: JobRow, counts: dict[str, int]) -> dict[str, Any]:
    finished = counts["done"] + counts["failed"] + counts["cancelled"]
    return {"id": job.id, "tenant": job.tenant_id, "status": job.status, "n_items": job.n_items, "counts": counts,
            "progress": finished / job.n_items if job.n_items else 1.0, "runner": state.jobs.kind,
            "created_at": job.created_at, "finished_at": job.finished_at}


def _dispatch(state: AppState, job_id: str, item_ids: list[int]) -> None:
    try:
        state.jobs.dispatch(item_ids)
    except Exception as exc:  # broker down: the items stay pending in SQL; POST .../resume sends them again
        raise HTTPException(503, f"the job queue is unreachable ({type(exc).__name__}); job {job_id} is recorded: "
                                 f"POST /v1/jobs/{job_id}/resume when it is back",
                            headers={"Location": f"/v1/jobs/{job_id}", "Retry-After": "30"}) from exc


@router.post("/reconcile", status_code=202, response_model=JobOut, responses={**COMMON, **UNAVAILABLE})
async def reconcile(body: ReconcileIn, key: AgentKey, state: StateDep, s: SessionDep) -> dict[str, Any]:
    """Ask the question for every selected order; poll GET /v1/jobs/{id} for progress."""
    q = body.query
    if q is None:
        orders, selection = list(body.orders or []), {"orders": body.orders}
    else:
        orders = await run_in_threadpool(delayed_refund_orders, s, key.tenant, q.min_delay_days, q.date_from,
                                         q.date_to)
        selection = q.model_dump(mode="json")
    spec = {"question": body.question, "options": body.options(), "selection": selection}
    try:
        job = await run_in_threadpool(J.create_job, s, key.tenant, spec, orders)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    _dispatch(state, job.id, await run_in_threadpool(J.pending_items, s, job.id))
    return await run_in_threadpool(_out, state, s, key.tenant, job.id)


@router.get("", response_model=JobList, responses=COMMON)
async def list_jobs(key: AgentKey, state: StateDep, s: SessionDep,
                    job_state: Annotated[Literal["queued", "running", "cancelled", "done", "failed"] | None,
                                         Query(alias="state", description="only jobs in this state")] = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    """The key's tenant's jobs, newest first."""
    found = await run_in_threadpool(J.list_jobs, s, key.tenant, job_state, limit)
    return {"jobs": [_job(state, job, counts) for job, counts in found]}


@router.get("/{job_id}", response_model=JobOut, responses={**COMMON, **NOT_FOUND})
async def job_status(job_id: str, key: AgentKey, state: StateDep, s: SessionDep) -> dict[str, Any]:
    return await run_in_threadpool(_out, state, s, key.tenant, job_id)


@router.get("/{job_id}/results", response_class=StreamingResponse, responses={**RESULTS_DOC, **COMMON, **NOT_FOUND})
async def job_results(job_id: str, key: AgentKey, state: StateDep, s: SessionDep,
                      format: Annotated[Literal["jsonl", "csv"], Query()] = "jsonl") -> StreamingResponse:
    await run_in_threadpool(_out, state, s, key.tenant, job_id)
    rows = await run_in_threadpool(J.result_rows, s, job_id)  # read now: the session ends with the request
    if format == "csv":
        return StreamingResponse(J.results_csv(rows), media_type="text/csv")
    return StreamingResponse(J.results_jsonl(rows), media_type="application/x-ndjson")


@router.post("/{job_id}/cancel", response_model=JobOut, responses={**COMMON, **NOT_FOUND})
async def cancel(job_id: str, key: AgentKey, state: StateDep, s: SessionDep) -> dict[str, Any]:
    """Pending items are cancelled; items already running finish and are kept."""
    await run_in_threadpool(_out, state, s, key.tenant, job_id)
    await run_in_threadpool(J.cancel_job, s, job_id)
    return await run_in_threadpool(_out, state, s, key.tenant, job_id)


@router.post("/{job_id}/resume", response_model=JobOut, responses={**COMMON, **NOT_FOUND, **UNAVAILABLE})
async def resume(job_id: str, key: AgentKey, state: StateDep, s: SessionDep) -> dict[str, Any]:
    """Send the job's pending (and, for a cancelled job, cancelled) items again; done items are never redone."""
    await run_in_threadpool(_out, state, s, key.tenant, job_id)
    await run_in_threadpool(J.reopen_job, s, job_id)
    _dispatch(state, job_id, await run_in_threadpool(J.pending_items, s, job_id))
    return await run_in_threadpool(_out, state, s, key.tenant, job_id)
