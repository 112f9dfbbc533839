"""Bodies of the OpenAI-compatible endpoints (`GET /v1/models`, `POST /v1/chat/completions`), in OpenAI's shapes,
plus the documented extra field ``longhaul`` that carries the citations, the verification and the evidence."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from app.api.schemas import EvidenceOut, Strict, _inherited
from app.services.answers.options import MODES

MODEL_PREFIX = "longhaul-"
MODELS = {f"{MODEL_PREFIX}{mode}": mode for mode in MODES}  # one model per answer mode


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(p.text for p in self.content if p.type == "text" and p.text)
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: StrictBool = False


class LonghaulOptions(Strict):
    """longhaul's own ask options, for clients that can send extra body fields (``extra_body={"longhaul": ...}``)."""

    k: int = _inherited("k")
    budget: int = _inherited("budget")
    rerank: StrictBool = _inherited("rerank")
    order: str = _inherited("order")
    kv: str = _inherited("kv")
    use_cache: StrictBool = Field(default=True, description="serve an identical earlier answer from the cache")


class ChatRequest(BaseModel):
    """OpenAI's chat completion request. The last user message is the question (earlier messages are not used);
    ``max_tokens`` (or ``max_completion_tokens``) bounds the answer; sampling fields (temperature, top_p, ...) are
    accepted and ignored: answers are greedy, so that they can be verified and cached."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(examples=["longhaul-hybrid"], description="longhaul-<mode>: see GET /v1/models")
    messages: list[ChatMessage] = Field(min_length=1, max_length=256)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1, le=512)
    max_completion_tokens: int | None = Field(None, ge=1, le=512)
    n: int = Field(1, ge=1, le=1, description="one choice only")
    longhaul: LonghaulOptions = LonghaulOptions()

    def question(self) -> str:
        """The last user message's text; `ValueError` when there is none."""
        for message in reversed(self.messages):
            if message.role == "user" and message.text().strip():
                return message.text()
        raise ValueError("no user message with text: the last user message is the question")


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "longhaul"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


class CitationOut(EvidenceOut):
    label: str | None = Field(None, description="the `[E#]` marker that cites it in the content")


class LonghaulExtra(BaseModel):
    """What OpenAI's format has no place for: the answer's citations (each with the ``[E#]`` label used in the
    content), whether it was verified, what verification left out, the packed evidence and the plan."""

    citations: list[CitationOut]
    verified: bool
    fallback: bool = Field(description="the model's draft was replaced by the records' timeline")
    partial: bool = Field(False, description="clauses with unsupported claims were left out")
    withdrawn: list[str] = Field([], description="claims of the drafts that the records do not support")
    evidence: list[EvidenceOut] = Field(description="the packed context, in prompt order")
    plan: list[str] = []
    index_version: str
    cached: bool = False
    timings_ms: dict[str, float] = {}


class ChatMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChoiceOut(BaseModel):
    index: int = 0
    message: ChatMessageOut
    finish_reason: Literal["stop", "length"] = "stop"
    logprobs: None = None


class UsageOut(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChoiceOut]
    usage: UsageOut
    longhaul: LonghaulExtra


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorOut(BaseModel):
    error: ErrorDetail


def ask_body(req: ChatRequest) -> dict[str, Any]:
    """The `AskRequest` fields of a chat request (validated by the caller)."""
    limit = req.max_completion_tokens or req.max_tokens
    return {"question": req.question(), "mode": MODELS[req.model], **req.longhaul.model_dump(),
            **({"max_new_tokens": limit} if limit else {})}

