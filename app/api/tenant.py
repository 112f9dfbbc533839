"""GET /v1/me (the calling key: its tenant and scopes) and GET /v1/index/versions (the tenant's index versions)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from app.api.deps import AgentKey, SessionDep, StateDep
from app.api.problems import COMMON
from app.api.schemas import KeyOut, VersionList
from app.services.library import list_versions

router = APIRouter(prefix="/v1", tags=["tenant"])


@router.get("/me", response_model=KeyOut, responses=COMMON)
async def me(key: AgentKey) -> dict[str, Any]:
    """The key that authenticated this request (never its secret): what a client may show and offer."""
    return {"id": key.id, "tenant": key.tenant, "scopes": sorted(key.scopes), "name": key.name}


@router.get("/index/versions", response_model=VersionList, responses=COMMON)
async def versions(key: AgentKey, state: StateDep, s: SessionDep,
                   limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    """The tenant's index versions, newest first, and which one is live."""
    live, rows = await run_in_threadpool(list_versions, state.settings, s, key.tenant, limit)
    return {"live": live, "versions": [asdict(v) for v in rows]}
