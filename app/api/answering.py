"""One question's trip for the routes that answer (`/v1/ask`, `/v1/ask/stream`, `/v1/chat/completions`): the
tenant's live index version read once, the answer cache, the bounded engine queue and the metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import HTTPException
from fastapi.concurrency import run_in_threadpool

from app.api.schemas import AskRequest
from app.api.state import AppState
from app.services.admission import QueueFull
from app.services.answers import AskOptions
from app.services.answers.events import Listener


def live_version(state: AppState, tenant: str) -> str:
    """The tenant's live index version, read once per request: the cache key and the retrieval both use it."""
    try:
        return state.pipeline.retrievers.live_version(tenant)
    except ValueError as exc:
        raise HTTPException(409, f"tenant {tenant!r} has no documents yet: POST /v1/documents first") from exc


def compute(state: AppState, body: AskRequest, tenant: str, version: str,
            listener: Listener | None = None) -> dict[str, Any]:
    """Run the pipeline on ``version`` (in a queue worker thread) and record its metrics; returns the answer JSON.
    ``listener`` hears the stages and the draft's tokens as they happen (a stream's)."""
    heard = {"listener": listener} if listener is not None else {}
    answer = state.pipeline.ask(body.question, tenant, AskOptions(**body.options()), version=version, **heard)
    state.metrics.observe_answer(body.mode, answer.timings_ms, answer.prompt_tokens, answer.generated_tokens,
                                 answer.kv_bytes)
    return {**answer.to_json(), "cached": False}


async def cached(state: AppState, body: AskRequest, tenant: str, version: str) -> dict[str, Any] | None:
    """The cached answer (``cached`` true), when the request allows the cache and there is one."""
    if not body.use_cache:
        return None
    hit = await run_in_threadpool(state.cache.get, state.cache.key(tenant, version, body.question, body.options()))
    state.metrics.cache.labels("hit" if hit else "miss").inc()
    return {**hit, "cached": True} if hit else None


def joinable(state: AppState, body: AskRequest, tenant: str, version: str) -> asyncio.Future[dict[str, Any]] | None:
    """The same question (tenant, index version, options) being answered now, when the request allows a shared
    answer (``use_cache``): a double click or a retry waits for it instead of computing it twice."""
    return state.in_flight.get(state.cache.key(tenant, version, body.question, body.options())) if body.use_cache \
        else None


def _track(state: AppState, body: AskRequest, key: str, work: asyncio.Future[dict[str, Any]]) -> None:
    if not body.use_cache or key in state.in_flight:
        return
    state.in_flight[key] = work

    def untrack(f: asyncio.Future[dict[str, Any]]) -> None:
        if state.in_flight.get(key) is f:
            del state.in_flight[key]

    work.add_done_callback(untrack)


def start(state: AppState, body: AskRequest, tenant: str, version: str,
          listener: Listener) -> asyncio.Future[dict[str, Any]]:
    """Admit a streamed question to its engine queue (`QueueFull` now when it is full); the answer is cached in the
    background once it succeeds (a stream abandoned by its client fails, and is not cached)."""
    work = state.queue_for(body.mode).submit(compute, state, body, tenant, version, listener)
    key = state.cache.key(tenant, version, body.question, body.options())

    def store(f: asyncio.Future[dict[str, Any]]) -> None:
        if not f.cancelled() and f.exception() is None:
            state.background.submit(state.cache.set, key, f.result())

    work.add_done_callback(store)
    _track(state, body, key, work)
    return work


async def answer(state: AppState, body: AskRequest, tenant: str) -> dict[str, Any]:
    """The cached answer, else the same question's answer already being computed, else one computed through the
    bounded queue and cached before it is returned (`QueueFull` and `ValueError` propagate). A shared computation
    that fails for its own reason (its stream's client went away) is not this request's failure: it computes anew."""
    version = live_version(state, tenant)
    hit = await cached(state, body, tenant, version)
    if hit is not None:
        return hit
    joined = joinable(state, body, tenant, version)
    if joined is not None:
        try:
            return await asyncio.shield(joined)
        except (QueueFull, ValueError):
            raise
        except Exception:  # noqa: BLE001 - the other request's failure: answer this one on its own
            pass
    key = state.cache.key(tenant, version, body.question, body.options())
    work = state.queue_for(body.mode).submit(compute, state, body, tenant, version)
    _track(state, body, key, work)
    out = await asyncio.shield(work)  # a caller that goes away leaves the answer to those who joined it
    await run_in_threadpool(state.cache.set, key, out)
    return out


def refuse(exc: QueueFull, state: AppState) -> HTTPException:
    """A full queue as a 429 with Retry-After (and counted)."""
    state.metrics.rejected.labels(exc.queue).inc()
    return HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after_s)})
