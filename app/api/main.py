"""The app factory: `create_app(settings)` wires routes, problems, request ids, metrics and the engine queues."""

from __future__ import annotations

import logging
import re
import signal
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api import admin, ask, docs, documents, health, jobs, openai, search, tenant
from app.api.openai_errors import error_response, is_openai_path
from app.api.problems import install as install_problems
from app.api.problems import problem_response
from app.api.state import AppState, build_state
from app.console.pages import install as install_console
from app.core.logs import request_id
from app.core.settings import Settings, get_settings

log = logging.getLogger("app.api")
RID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContext:
    """Pure ASGI middleware: request id (``X-Request-ID`` in and out), one JSON log line and a latency sample per
    request."""

    def __init__(self, app: ASGIApp, state: AppState, max_body: int) -> None:
        self.app, self.state, self.max_body = app, state, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if RID_RE.match(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        status = [500]
        started = [False]
        t0 = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0], started[0] = message["status"], True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            length = dict(scope["headers"]).get(b"content-length", b"")
            if length.isdigit() and int(length) > self.max_body:
                refuse = error_response if is_openai_path(scope["path"]) else problem_response
                too_large = refuse(413, f"the body has {int(length)} bytes; the limit is {self.max_body}")
                await too_large(scope, receive, send_with_id)
                return
            await self.app(scope, self._limited(receive), send_with_id)
        except Exception as exc:  # here, not in Starlette's outermost handler: the problem keeps the request id
            log.exception("unhandled error: %s", type(exc).__name__)
            if started[0]:
                raise
            crash = (error_response if is_openai_path(scope["path"]) else problem_response)(
                500, "internal error; quote the request id when reporting it")
            await crash(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - t0
            route = getattr(scope.get("route"), "path", "unmatched")
            self.state.metrics.requests.labels(scope["method"], route, str(status[0])).observe(elapsed)
            log.info("%s %s %d", scope["method"], route, status[0],
                     extra={"fields": {"method": scope["method"], "path": scope["path"], "route": route,
                                       "status": status[0], "ms": round(elapsed * 1e3, 2)}})
            request_id.reset(token)


    def _limited(self, receive: Receive) -> Receive:
        """Bodies without a Content-Length are counted as they arrive; past the limit the route sees a 413."""
        seen = [0]

        async def receive_limited() -> Message:
            message = await receive()
            seen[0] += len(message.get("body", b""))
            if seen[0] > self.max_body:
                raise HTTPException(413, f"the body exceeds the limit of {self.max_body} bytes")
            return message

        return receive_limited


def on_termination(stop: Callable[[], None]) -> Callable[[], None]:
    """Call ``stop`` as soon as SIGTERM or SIGINT arrives, before the server's own handler (uvicorn's) drains the
    requests: a request waiting for a write then ends at once instead of holding the shutdown. Returns the undo.
    Only in the main thread and over a Python handler (the server's); elsewhere it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def chained(signum: int, frame: Any) -> None:
        stop()
        handler = previous[signal.Signals(signum)]
        if callable(handler):
            handler(signum, frame)

    chained_on = [sig for sig, handler in previous.items() if callable(handler)]
    for sig in chained_on:
        signal.signal(sig, chained)

    def restore() -> None:
        for sig in chained_on:
            if signal.getsignal(sig) is chained:
                signal.signal(sig, previous[sig])

    return restore


def create_app(settings: Settings | None = None, **state_kwargs: Any) -> FastAPI:
    """The FastAPI app; ``state_kwargs`` (``pipeline``, ``embedder``, ``retrievers``) let tests swap stages."""
    settings = settings or get_settings()
    state = build_state(settings, **state_kwargs)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.open()
        restore = on_termination(state.writers.stop)
        yield
        restore()
        state.close()

    app = FastAPI(title="longhaul", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Answers over long business histories with the evidence cited. Authenticate with "
                              "`Authorization: Bearer <API key>`; errors are RFC 9457 problem documents.")
    app.state.longhaul = state
    install_problems(app)
    for module in (health, ask, search, documents, tenant, jobs, admin, openai):
        app.include_router(module.router)
    docs.install(app)
    install_console(app)
    app.add_middleware(RequestContext, state=state, max_body=settings.max_body_bytes)
    return app
