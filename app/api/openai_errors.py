"""Errors of the OpenAI-compatible endpoints in OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``,
with the same status codes as the rest of the API (so OpenAI's clients raise their usual exceptions: 401 ->
`AuthenticationError`, 400 -> `BadRequestError`, 429 -> `RateLimitError`, ...)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.openai_schemas import ErrorOut
from app.api.problems import Responses
from app.core.logs import request_id

log = logging.getLogger(__name__)
KINDS = {400: ("invalid_request_error", None), 401: ("invalid_request_error", "invalid_api_key"),
         403: ("permission_error", "insufficient_scope"), 404: ("invalid_request_error", "not_found"),
         409: ("invalid_request_error", "no_documents"), 413: ("invalid_request_error", "request_too_large"),
         422: ("invalid_request_error", None), 429: ("rate_limit_error", "rate_limit_exceeded"),
         500: ("server_error", None), 503: ("server_error", "unavailable")}


OPENAI_PATHS = ("/v1/chat/completions", "/v1/models")  # the routes of app/api/openai.py


def is_openai_path(path: str) -> bool:
    """Whether ``path`` is an OpenAI-compatible route, whose errors (even those answered before routing, such as
    a body over the limit) come in OpenAI's shape."""
    return any(path == p or path.startswith(p + "/") for p in OPENAI_PATHS)


def error_body(status: int, message: str, *, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    kind, default_code = KINDS.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    return {"error": {"message": message, "type": kind, "param": param, "code": code or default_code}}


def error_response(status: int, message: str, *, code: str | None = None, param: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    rid = request_id.get()
    return JSONResponse(error_body(status, message, code=code, param=param), status_code=status,
                        headers={**(headers or {}), **({"X-Request-ID": rid} if rid else {})})


def _invalid(exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    where = ".".join(loc)
    return error_response(400, f"{where + ': ' if where else ''}{first.get('msg', 'invalid request body')}",
                          param=where or None, code=str(first.get("type")) if first.get("type") else None)


class OpenAIRoute(APIRoute):
    """A route whose errors (bad body, bad key, HTTP problems, crashes) answer in OpenAI's error shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return _invalid(exc)
            except StarletteHTTPException as exc:
                detail = exc.detail if isinstance(exc.detail, str) else "request refused"
                code = "model_not_found" if exc.status_code == 404 and "model" in detail else None
                return error_response(exc.status_code, detail, code=code, headers=getattr(exc, "headers", None))
            except Exception as exc:  # noqa: BLE001 - never a stack trace: a 500 in the same shape
                log.exception("unhandled error: %s", type(exc).__name__)
                return error_response(500, "internal error; quote the request id when reporting it")

        return route


def _doc(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


ERRORS: Responses = {400: _doc("Invalid body (OpenAI error shape)"), 401: _doc("Missing or invalid API key"),
                     403: _doc("The key lacks the agent scope"),
                     413: _doc("Request body over LONGHAUL_MAX_BODY_BYTES (code request_too_large)"),
                     429: _doc("Rate limited or the engine queue is full; see Retry-After")}
