"""POST /v1/ask and POST /v1/ask/stream (server-sent events): questions answered for the key's tenant only."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from app.api.deps import AgentKey, StateDep
from app.api.problems import COMMON, CONFLICT, Responses
from app.api.schemas import AskRequest, AskResponse
from app.api.state import AppState
from app.services.admission import QueueFull
from app.services.answers import AskOptions

router = APIRouter(prefix="/v1", tags=["ask"])
SSE_EVENT = {"type": "object", "required": ["event", "data"], "properties": {
    "event": {"type": "string", "enum": ["stage", "token", "citations", "done", "error"]},
    "data": {"type": "string", "description": "JSON: a stage, a token's text, the citations, or the summary"}}}
SSE_DOC: Responses = {200: {
    "description": "server-sent events: `stage`..., `token`..., `citations`, then `done` (or `error`)",
    "content": {"text/event-stream": {"schema": SSE_EVENT}}}}


def _version(state: AppState, tenant: str) -> str:
    """The tenant's live index version, read once per request: the cache key and the retrieval both use it."""
    try:
        return state.pipeline.retrievers.live_version(tenant)
    except ValueError as exc:
        raise HTTPException(409, f"tenant {tenant!r} has no documents yet: POST /v1/documents first") from exc


def _answer(state: AppState, body: AskRequest, tenant: str, version: str) -> dict[str, Any]:
    """Run the pipeline on ``version`` (in a queue worker thread) and record its metrics; returns the answer JSON."""
    answer = state.pipeline.ask(body.question, tenant, AskOptions(**body.options()), version=version)
    state.metrics.observe_answer(body.mode, answer.timings_ms, answer.prompt_tokens, answer.generated_tokens,
                                 answer.kv_bytes)
    return {**answer.to_json(), "cached": False}


async def _ask(state: AppState, body: AskRequest, tenant: str) -> dict[str, Any]:
    """The cached answer, else one computed through the bounded queue (QueueFull propagates)."""
    version = _version(state, tenant)
    key = state.cache.key(tenant, version, body.question, body.options())
    if body.use_cache:
        hit = await run_in_threadpool(state.cache.get, key)
        state.metrics.cache.labels("hit" if hit else "miss").inc()
        if hit:
            return {**hit, "cached": True}
    out = await state.queue_for(body.mode).submit(_answer, state, body, tenant, version)
    await run_in_threadpool(state.cache.set, key, out)
    return out


def _refuse(exc: QueueFull, state: AppState) -> HTTPException:
    state.metrics.rejected.labels(exc.queue).inc()
    return HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after_s)})


@router.post("/ask", response_model=AskResponse, responses={**COMMON, **CONFLICT})
async def ask(body: AskRequest, key: AgentKey, state: StateDep) -> dict[str, Any]:
    """Answer a question from the key's tenant's history, citing the evidence."""
    try:
        return await _ask(state, body, key.tenant)
    except QueueFull as exc:
        raise _refuse(exc, state) from exc
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


def _event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


async def _stream(state: AppState, body: AskRequest, tenant: str, work: asyncio.Future) -> AsyncIterator[str]:
    yield _event("stage", {"stage": "queued", "mode": body.mode})
    while True:
        try:
            out = await asyncio.wait_for(asyncio.shield(work), timeout=5.0)
            break
        except TimeoutError:
            yield ": keep-alive\n\n"
        except Exception as exc:  # noqa: BLE001 - the stream already started: report as an event, never a crash
            status = 429 if isinstance(exc, QueueFull) else 422 if isinstance(exc, ValueError) else 500
            yield _event("error", {"status": status, "detail": str(exc) if status != 500 else "internal error"})
            return
    for stage, ms in out["timings_ms"].items():
        yield _event("stage", {"stage": stage, "ms": ms})
    for piece in re.findall(r"\S+\s*|\s+", out["answer"]):
        yield _event("token", {"text": piece})
    yield _event("citations", out["citations"])
    yield _event("done", {"verified": out["verified"], "fallback": out["fallback"], "cached": out["cached"],
                          "index_version": out["index_version"], "context_tokens": out["context"]["tokens"]})


@router.post("/ask/stream", responses={**SSE_DOC, **COMMON, **CONFLICT})
async def ask_stream(body: AskRequest, key: AgentKey, state: StateDep) -> StreamingResponse:
    """The same answer as server-sent events. The answer is streamed once verified, so a streamed token is never
    retracted; a full queue is refused with 429 before the stream starts."""
    version = _version(state, key.tenant)
    cache_key = state.cache.key(key.tenant, version, body.question, body.options())
    hit = await run_in_threadpool(state.cache.get, cache_key) if body.use_cache else None
    if body.use_cache:
        state.metrics.cache.labels("hit" if hit else "miss").inc()
    if hit:
        work: asyncio.Future = asyncio.get_running_loop().create_future()
        work.set_result({**hit, "cached": True})
    else:
        try:
            work = state.queue_for(body.mode).submit(_answer, state, body, key.tenant, version)
        except QueueFull as exc:
            raise _refuse(exc, state) from exc

        def _store(f: asyncio.Future) -> None:
            if not f.cancelled() and f.exception() is None:
                state.background.submit(state.cache.set, cache_key, f.result())

        work.add_done_callback(_store)
    return StreamingResponse(_stream(state, body, key.tenant, work), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
