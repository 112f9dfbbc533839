"""OpenAI-compatible endpoints: `GET /v1/models` (one model per answer mode) and `POST /v1/chat/completions`
(stream or not), with the same bearer keys and tenant as `/v1/ask`.

The last user message is the question. The content is the answer as `/v1/ask` gives it, ``[E#]`` markers
included; the extra field ``longhaul`` carries the citations (with their labels), the verdict and the evidence.
When streaming, chunks with an empty delta and a ``longhaul`` field carry the stages and the draft's tokens as they
happen (``{"event": "stage"|"token"|"verdict", ...}``); the content itself is the verified answer, sent once it is
known, so a client that only reads ``delta.content`` never shows text that verification withdrew.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from app.api import answering
from app.api.deps import AgentKey, StateDep
from app.api.openai_errors import ERRORS, OpenAIRoute, error_body
from app.api.openai_schemas import MODELS, ChatCompletion, ChatRequest, ModelList, ask_body
from app.api.schemas import AskRequest
from app.api.stream import AnswerStream
from app.services.admission import QueueFull
from app.services.answers.events import verdict_of

router = APIRouter(prefix="/v1", tags=["openai"], route_class=OpenAIRoute)
CREATED = int(time.time())  # the models exist since the process started
STREAM_DOC = {"description": "a chat.completion, or with `stream` server-sent `chat.completion.chunk`s ending with "
                             "`data: [DONE]`", "content": {"text/event-stream": {"schema": {"type": "string"}}}}


def _model(model_id: str) -> dict[str, Any]:
    if model_id not in MODELS:
        raise HTTPException(404, f"the model {model_id!r} does not exist: choose one of {', '.join(MODELS)}")
    return {"id": model_id, "object": "model", "created": CREATED, "owned_by": "longhaul"}


@router.get("/models", response_model=ModelList, responses=ERRORS)
async def list_models(_: AgentKey) -> dict[str, Any]:
    """One model per answer mode: `longhaul-hybrid`, `longhaul-long_context`, `longhaul-retrieval_only`."""
    return {"object": "list", "data": [_model(m) for m in MODELS]}


@router.get("/models/{model_id}", responses={**ERRORS, 404: ERRORS[400] | {"description": "No such model"}})
async def get_model(model_id: str, _: AgentKey) -> dict[str, Any]:
    return _model(model_id)


def _longhaul(out: dict[str, Any]) -> dict[str, Any]:
    """The ``longhaul`` field of a completion: the citations with their ``[E#]`` labels, the verdict, the
    evidence."""
    labels = {e["id"]: e.get("label") for e in out["context"]["evidence"]}
    verdict = verdict_of(out)
    return {"citations": [{**c, "label": c.get("label") or labels.get(c["id"])} for c in out["citations"]],
            "verified": out["verified"], "fallback": out["fallback"], "partial": verdict["partial"],
            "withdrawn": verdict["withdrawn"], "evidence": out["context"]["evidence"], "plan": out.get("plan", []),
            "index_version": out["index_version"], "cached": out.get("cached", False),
            "timings_ms": out["timings_ms"]}


def _usage(out: dict[str, Any]) -> dict[str, int]:
    used = out.get("usage", {})
    prompt, completion = used.get("prompt_tokens", 0), used.get("generated_tokens", 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _ask_request(req: ChatRequest) -> AskRequest:
    if req.model not in MODELS:
        _model(req.model)
    try:
        return AskRequest(**ask_body(req))
    except ValueError as exc:  # no user message, or options out of bounds (ValidationError is a ValueError)
        errors = exc.errors() if isinstance(exc, ValidationError) else []
        where = ".".join(str(p) for p in errors[0]["loc"]) if errors else ""
        detail = f"{where}: {errors[0]['msg']}" if errors else str(exc)
        raise HTTPException(400, detail) from exc


class ChunkWriter:
    """`chat.completion.chunk` lines of one streamed completion."""

    def __init__(self, model: str) -> None:
        self.id, self.model, self.created = f"chatcmpl-{uuid.uuid4().hex}", model, int(time.time())

    def chunk(self, delta: dict[str, Any] | None = None, finish: str | None = None,
              longhaul: dict[str, Any] | None = None, usage: dict[str, int] | None = None) -> str:
        body: dict[str, Any] = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                                "model": self.model}
        body["choices"] = [] if usage else [{"index": 0, "delta": delta or {}, "finish_reason": finish,
                                             "logprobs": None}]
        if usage:
            body["usage"] = usage
        if longhaul:
            body["longhaul"] = longhaul
        return f"data: {json.dumps(body)}\n\n"


async def _chunks(stream: AnswerStream, writer: ChunkWriter, include_usage: bool) -> AsyncIterator[str]:
    yield writer.chunk({"role": "assistant", "content": ""})
    out: dict[str, Any] = {}
    async for item in stream.events():
        if item is None:
            yield ": keep-alive\n\n"
            continue
        event, data = item
        if event in ("stage", "token", "verdict"):
            yield writer.chunk(longhaul={"event": event, **data})
        elif event == "answer":
            out = data
            for piece in re.findall(r"\S+\s*|\s+", data["answer"]):
                yield writer.chunk({"content": piece})
            yield writer.chunk(finish="stop", longhaul={"event": "answer", **_longhaul(data)})
        elif event == "done":
            if include_usage:
                yield writer.chunk(usage=_usage(out), longhaul={"event": "done", "ttft_ms": data["ttft_ms"]})
            yield "data: [DONE]\n\n"
        elif event == "error":
            yield f"data: {json.dumps(error_body(data['status'], data['detail']))}\n\n"
            return


@router.post("/chat/completions", response_model=ChatCompletion,
             responses={**ERRORS, 200: STREAM_DOC, 404: ERRORS[400] | {"description": "No such model"},
                        409: ERRORS[400] | {"description": "The tenant has no documents yet"}})
async def chat_completions(req: ChatRequest, key: AgentKey, state: StateDep) -> Any:
    """Answer the last user message from the key's tenant's history, in OpenAI's chat completion format; the
    citations, the verdict and the evidence ride in the extra field ``longhaul``."""
    body = _ask_request(req)
    if req.stream:
        stream = AnswerStream(state, body, key.tenant)
        try:
            await stream.open()
        except QueueFull as exc:
            raise answering.refuse(exc, state) from exc
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        return StreamingResponse(_chunks(stream, ChunkWriter(req.model), include_usage),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    try:
        out = await answering.answer(state, body, key.tenant)
    except QueueFull as exc:
        raise answering.refuse(exc, state) from exc
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": req.model, "usage": _usage(out), "longhaul": _longhaul(out),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": out["answer"]},
                         "finish_reason": "stop", "logprobs": None}]}
