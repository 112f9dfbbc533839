"""Running a write (upload, deletion, reindex) on the app's writers from a route, with its refusals as problems."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any

from fastapi import HTTPException

from app.api.state import AppState
from app.services.writers import WritersBusy, WritersStopped

RETRY = {"Retry-After": "5"}


def submit(state: AppState, method: str, *args: Any) -> Future[Any]:
    """Hand ``store.<method>(*args)`` to the writers: 429 when too many writes wait, 503 while shutting down."""
    try:
        return state.writers.submit(method, *args)
    except WritersBusy as exc:
        raise HTTPException(429, str(exc), headers=RETRY) from exc
    except WritersStopped as exc:
        raise HTTPException(503, str(exc), headers=RETRY) from exc


async def write(state: AppState, method: str, *args: Any) -> Any:
    """`submit` and wait for the result; 503 when the writer stopped before the write finished (not applied)."""
    try:
        return await asyncio.wrap_future(submit(state, method, *args))
    except WritersStopped as exc:
        raise HTTPException(503, str(exc), headers=RETRY) from exc
