"""An answer as it happens: the pipeline's events, carried from the engine's worker thread to an async stream.

`AnswerStream` admits the question (a full queue is refused before any byte is sent), hands the pipeline a
listener, and yields what it hears in order: the stages, the draft's tokens, then the verdict and the answer. When
the client goes away the next event the pipeline reports raises `StreamClosed`, which stops the decode there.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from app.api import answering
from app.api.schemas import AskRequest
from app.api.state import AppState
from app.services.admission import QueueFull
from app.services.answers.events import verdict_of

log = logging.getLogger(__name__)
KEEP_ALIVE_S = 5.0
END = "__end__"


class StreamClosed(Exception):
    """The client of a stream went away: the answer is abandoned (and not cached)."""


class AnswerStream:
    """One streamed answer. ``next()`` yields ``(event, data)`` pairs, or ``None`` for a keep-alive after
    ``KEEP_ALIVE_S`` of silence; it ends after ``done`` or ``error``. Stage events carry the pipeline's data;
    ``token`` events the draft's text; then ``verdict``, ``answer`` (the answer's JSON), ``done``."""

    def __init__(self, state: AppState, body: AskRequest, tenant: str) -> None:
        self.state, self.body, self.tenant = state, body, tenant
        self.t0 = time.perf_counter()
        self.ttft_ms: float | None = None  # from the request's arrival to the first token sent
        self.version = answering.live_version(state, tenant)
        self._inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._closed = threading.Event()
        self._loop = asyncio.get_running_loop()
        self._work: asyncio.Future[dict[str, Any]] | None = None
        self._hit: dict[str, Any] | None = None
        self._joined = False  # waiting for an identical answer another request is computing (no tokens of ours)

    async def open(self) -> None:
        """The cached answer, or the same answer already being computed (a double click: it is waited for, not
        computed twice), or the question admitted to its engine queue (`QueueFull` when it is full)."""
        self._hit = await answering.cached(self.state, self.body, self.tenant, self.version)
        if self._hit is None:
            joined = answering.joinable(self.state, self.body, self.tenant, self.version)
            self._joined = joined is not None
            self._wait(joined if joined is not None else self._start())

    def _start(self) -> asyncio.Future[dict[str, Any]]:
        return answering.start(self.state, self.body, self.tenant, self.version, self._hear)

    def _wait(self, work: asyncio.Future[dict[str, Any]]) -> None:
        self._work = work
        work.add_done_callback(lambda _: self._inbox.put_nowait((END, None)))

    def _hear(self, event: str, data: dict[str, Any]) -> None:
        """The pipeline's listener, on the engine's worker thread."""
        if self._closed.is_set():
            raise StreamClosed("the client closed the stream")
        self._loop.call_soon_threadsafe(self._inbox.put_nowait, (event, data))

    def close(self) -> None:
        self._closed.set()

    async def events(self) -> AsyncIterator[tuple[str, Any] | None]:
        try:
            yield "stage", {"stage": "queued", "mode": self.body.mode, "index_version": self.version}
            out = self._hit
            while out is None:
                try:
                    event, data = await asyncio.wait_for(self._inbox.get(), KEEP_ALIVE_S)
                except TimeoutError:
                    yield None
                    continue
                if event != END:
                    if event == "token" and self.ttft_ms is None:
                        self.ttft_ms = round((time.perf_counter() - self.t0) * 1e3, 2)
                    yield event, data
                    continue
                assert self._work is not None
                try:
                    out = self._work.result()
                except Exception as exc:  # noqa: BLE001 - the stream has started: an event, never a crash
                    if self._joined and not isinstance(exc, QueueFull | ValueError):
                        self._joined = False  # the answer joined failed for its own client: compute ours
                        try:
                            self._wait(self._start())
                        except QueueFull as full:
                            yield "error", self._problem(full)
                            return
                        continue
                    yield "error", self._problem(exc)
                    return
            yield "verdict", verdict_of(out)
            yield "answer", out
            yield "done", {"verified": out["verified"], "fallback": out["fallback"], "cached": out["cached"],
                           "index_version": out["index_version"], "context_tokens": out["context"]["tokens"],
                           "ttft_ms": self.ttft_ms, "timings_ms": out["timings_ms"]}
        finally:  # also when the client went away mid-stream: the pipeline's next event stops it
            self.close()

    def _problem(self, exc: BaseException) -> dict[str, Any]:
        if isinstance(exc, QueueFull):
            self.state.metrics.rejected.labels(exc.queue).inc()
            return {"status": 429, "detail": str(exc), "retry_after": exc.retry_after_s}
        if isinstance(exc, ValueError):
            return {"status": 422, "detail": str(exc)}
        log.error("streamed answer failed: %s", type(exc).__name__, exc_info=exc)
        return {"status": 500, "detail": "internal error; quote the request id when reporting it"}
