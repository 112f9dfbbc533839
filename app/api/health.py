"""GET /healthz (the process is up), /readyz (it can serve: database reachable), /metrics (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from app.api.deps import StateDep
from app.api.problems import UNAVAILABLE, problem_response
from app.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses=UNAVAILABLE)
async def readyz(state: StateDep) -> Health | JSONResponse:
    """Ready when the database answers; Redis down only degrades (answers continue uncached)."""
    db = await run_in_threadpool(state.db.ping)
    redis = await run_in_threadpool(state.cache.ping)
    if not db:
        return problem_response(503, "the database is unreachable")
    return Health(status="ok" if redis is not False else "degraded", checks={"database": db, "redis": redis})


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus"}})
async def metrics(state: StateDep) -> Response:
    return Response(state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
