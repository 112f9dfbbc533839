"""POST /v1/ask and POST /v1/ask/stream (server-sent events): questions answered for the key's tenant only."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import StreamingResponse

from app.api import answering
from app.api.deps import AgentKey, StateDep
from app.api.problems import COMMON, CONFLICT, Responses
from app.api.schemas import AskRequest, AskResponse
from app.api.stream import AnswerStream
from app.services.admission import QueueFull

router = APIRouter(prefix="/v1", tags=["ask"])
EVENTS = ["stage", "token", "verdict", "answer", "citations", "done", "error"]
SSE_EVENT = {"type": "object", "required": ["event", "data"], "properties": {
    "event": {"type": "string", "enum": EVENTS},
    "data": {"type": "string", "description": "JSON: a stage, a draft token, the verdict, the answer, the "
                                              "citations, the summary, or a problem"}}}
SSE_DOC: Responses = {200: {
    "description": "server-sent events, in order: `stage` (queued, then retrieve, pack, generate, verify as each "
                   "starts and ends), `token` (the draft's text as it is generated: `{text, attempt, draft}`, the "
                   "first with `ttft_ms`; a retry after a failed verification starts a new attempt), `verdict` "
                   "(`{verified, fallback, partial, withdrawn, attempts}`), `answer` (the answer as `POST /v1/ask` "
                   "returns it), `citations`, then `done` (`{..., ttft_ms, timings_ms}`) — or `error` "
                   "(`{status, detail}`). Comment lines are keep-alives.",
    "content": {"text/event-stream": {"schema": SSE_EVENT}}}}


@router.post("/ask", response_model=AskResponse, responses={**COMMON, **CONFLICT})
async def ask(body: AskRequest, key: AgentKey, state: StateDep) -> dict[str, Any]:
    """Answer a question from the key's tenant's history, citing the evidence."""
    try:
        return await answering.answer(state, body, key.tenant)
    except QueueFull as exc:
        raise answering.refuse(exc, state) from exc
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


def _sse(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


async def _lines(stream: AnswerStream) -> AsyncIterator[str]:
    async for item in stream.events():
        if item is None:
            yield ": keep-alive\n\n"
            continue
        name, data = item
        yield _sse(name, data)
        if name == "answer":
            yield _sse("citations", data["citations"])


@router.post("/ask/stream", responses={**SSE_DOC, **COMMON, **CONFLICT})
async def ask_stream(body: AskRequest, key: AgentKey, state: StateDep) -> StreamingResponse:
    """The same answer as server-sent events, as it happens: the stages, the draft's tokens as the engine generates
    them, then the verification verdict (what was left out) and the final answer with its citations. The draft is
    marked as such: the answer that follows it is the one to keep. A full queue is refused with 429 before the
    stream starts; a client that goes away stops the generation."""
    stream = AnswerStream(state, body, key.tenant)
    try:
        await stream.open()
    except QueueFull as exc:
        raise answering.refuse(exc, state) from exc
    return StreamingResponse(_lines(stream), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
