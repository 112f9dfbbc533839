"""POST /v1/search: the tenant's live index searched, as `longhaul search --json` prints it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from app.api import answering
from app.api.deps import AgentKey, StateDep
from app.api.problems import COMMON, CONFLICT
from app.api.schemas import SearchIn, SearchOut
from app.api.state import AppState
from app.services.admission import QueueFull

router = APIRouter(prefix="/v1", tags=["search"])


def _search(state: AppState, body: SearchIn, tenant: str, version: str) -> dict[str, Any]:
    hits = state.pipeline.retrievers.get(tenant, version).search(body.query, k=body.k, rerank=body.rerank)
    return {"hits": [{"id": h.id, "source": h.source, "text": h.text, "score": float(h.score)} for h in hits],
            "index_version": version}


@router.post("/search", response_model=SearchOut, responses={**COMMON, **CONFLICT})
async def search(body: SearchIn, key: AgentKey, state: StateDep) -> dict[str, Any]:
    """The best records for ``query`` from the key's tenant's live index, best first (hybrid retrieval: BM25, dense
    and key matches fused; the cross-encoder reranks when ``rerank``)."""
    version = answering.live_version(state, key.tenant)
    try:
        return await state.queues["retrieval"].submit(_search, state, body, key.tenant, version)
    except QueueFull as exc:
        raise answering.refuse(exc, state) from exc
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
