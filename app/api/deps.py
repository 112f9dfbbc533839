"""Typed dependencies: the app state, a SQL session per request, the authenticated key (bearer API key) and scope
checks."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.api.state import AppState
from app.services.keys import ApiKey, authenticate

bearer = HTTPBearer(auto_error=False, description="An API key from `longhaul keys create`")


def get_state(request: Request) -> AppState:
    return request.app.state.longhaul


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    """One session from the state's factory for the request; the service functions commit their own changes."""
    with state.db.sessions() as s:
        yield s


SessionDep = Annotated[Session, Depends(get_session)]


def _authenticate(state: AppState, secret: str) -> ApiKey | None:
    # A session of its own, closed at once: a request waiting for the engine must not hold a connection.
    with state.db.sessions() as s:
        return authenticate(s, secret)


def _retry_after(wait: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(wait)))}


async def current_key(state: StateDep, request: Request,
                      creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> ApiKey:
    challenge = {"WWW-Authenticate": "Bearer"}
    if creds is None or creds.scheme.lower() != "bearer":
        raise HTTPException(401, "send an API key as `Authorization: Bearer <key>`", headers=challenge)
    client = request.client.host if request.client else "-"
    wait = state.auth_failures.peek(client)
    if wait > 0:  # refused before the database is asked
        raise HTTPException(429, "too many failed authentications from this address", headers=_retry_after(wait))
    key = await run_in_threadpool(_authenticate, state, creds.credentials)
    if key is None:
        state.auth_failures.take(client)
        raise HTTPException(401, "the API key is unknown or revoked", headers=challenge)
    wait = state.limiter.take(key.id)
    if wait > 0:
        raise HTTPException(429, "rate limit of this API key exceeded", headers=_retry_after(wait))
    return key


def require(scope: str):  # noqa: ANN201 - a dependency factory
    async def check(key: Annotated[ApiKey, Depends(current_key)]) -> ApiKey:
        if not key.allows(scope):
            raise HTTPException(403, f"this API key lacks the {scope!r} scope")
        return key

    return check


AgentKey = Annotated[ApiKey, Depends(require("agent"))]
AdminKey = Annotated[ApiKey, Depends(require("admin"))]
