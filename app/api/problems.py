"""Errors as RFC 9457 problem documents (application/problem+json), never a stack trace."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from app.core.logs import request_id

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
Responses = dict[int | str, dict[str, Any]]  # an OpenAPI `responses` mapping


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = None


def problem_response(status: int, detail: str | None = None, *, headers: dict[str, str] | None = None,
                     errors: list[dict[str, Any]] | None = None) -> JSONResponse:
    body = Problem(title=HTTPStatus(status).phrase, status=status, detail=detail, request_id=request_id.get(),
                   errors=errors)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers,
                        media_type=PROBLEM_JSON)


def _doc(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description, "content": {PROBLEM_JSON: {}}}


# The problems every authenticated route may answer with, for the OpenAPI document.
COMMON: Responses = {400: _doc("Malformed body (not decodable)"), 401: _doc("Missing or invalid API key"),
          403: _doc("The key lacks the scope"),
          413: _doc("Request body too large"), 422: _doc("Invalid request (bad JSON or fields)"),
          429: _doc("Rate limited or the engine queue is full; see Retry-After")}
NOT_FOUND: Responses = {404: _doc("Not found for this key's tenant")}
CONFLICT: Responses = {409: _doc("The tenant has no live index yet")}
OWNED: Responses = {409: _doc("The document belongs to another source (an ingested folder)")}
UNAVAILABLE: Responses = {503: _doc("A dependency is unavailable")}


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app serves at the request's path."""
    methods: set[str] = set()

    def walk(routes: list[Any]) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)  # an included router (newer FastAPI wraps them)
            if inner is not None:
                walk(inner.routes)
            elif isinstance(route, Route) and route.methods and route.matches(request.scope)[0] != Match.NONE:
                methods.update(route.methods)

    walk(request.app.router.routes)
    return sorted(methods)


def install(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:  # Starlette names the methods of the first route matching the path only
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return problem_response(exc.status_code, detail, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{k: v for k, v in e.items() if k in ("type", "loc", "msg")} for e in exc.errors()]
        return problem_response(422, "the request is not valid: see errors", errors=jsonable_encoder(errors))

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error: %s", type(exc).__name__)
        return problem_response(500, "internal error; quote the request id when reporting it")
