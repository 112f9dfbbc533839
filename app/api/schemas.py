"""Request and response bodies of the HTTP API (apart from the SQL rows)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator


def _aware(d: datetime) -> datetime:
    return d if d.tzinfo else d.replace(tzinfo=UTC)  # SQLite returns naive UTC timestamps


UtcDatetime = Annotated[datetime, AfterValidator(_aware)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AskRequest(Strict):
    question: str = Field(min_length=1, max_length=4000, examples=["Why was the refund for order #100234 delayed?"])
    mode: Literal["hybrid", "long_context", "retrieval_only"] = "hybrid"
    k: StrictInt = Field(24, ge=1, le=100)
    budget: StrictInt = Field(3072, ge=256, le=8192)
    max_new_tokens: StrictInt = Field(160, ge=1, le=512)
    rerank: StrictBool = False
    use_cache: StrictBool = True

    def options(self) -> dict[str, Any]:
        return self.model_dump(exclude={"question", "use_cache"})


class EvidenceOut(BaseModel):
    id: str
    source: str
    text: str
    label: str | None = None


class ContextOut(BaseModel):
    tokens: int
    evidence: list[EvidenceOut]


class AskResponse(BaseModel):
    answer: str
    citations: list[EvidenceOut]
    context: ContextOut
    timings_ms: dict[str, float]
    verified: bool
    fallback: bool
    mode: str
    tenant: str
    attempts: list[dict[str, Any]] = []
    cached: bool = False
    index_version: str


class DocumentIn(Strict):
    id: str = Field(min_length=1, max_length=500, examples=["notes/2024-05-lej1.md"],
                    description="relative path ending in .jsonl, .csv, .md, .txt or .log")
    content: str = Field(max_length=8 * 2**20)


class DocumentOut(BaseModel):
    id: str
    tenant: str
    sha256: str
    doc_type: str
    size_bytes: int
    n_chunks: int
    n_issues: int
    ingested_at: UtcDatetime


class IngestOut(BaseModel):
    tenant: str
    index_version: str | None
    unchanged: bool
    files_new: int
    files_changed: int
    files_deleted: int
    chunks_total: int
    chunks_embedded: int
    issues: list[str]


class ReindexIn(Strict):
    reembed: StrictBool = Field(False, description="re-embed every chunk (else reuse the stored vectors)")


class ReindexOut(BaseModel):
    id: int
    tenant: str
    status: Literal["building", "live", "retired", "failed"]
    index_version: str | None
    n_chunks: int


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, bool | None] = {}


class DelayedRefunds(Strict):
    kind: Literal["delayed_refunds"] = "delayed_refunds"
    min_delay_days: StrictInt = Field(ge=0, le=3650, description="refund issued more than this many days after "
                                                                 "the return")
    date_from: date | None = Field(None, description="refund date on or after (inclusive)")
    date_to: date | None = Field(None, description="refund date on or before (inclusive)")


class ReconcileIn(Strict):
    question: str = Field("Why was the refund for order {order} delayed?", min_length=1, max_length=2000,
                          pattern=r"\{order\}", description="asked once per order; `{order}` is replaced")
    orders: list[Annotated[str, Field(pattern=r"^#?[A-Za-z0-9-]{1,32}$")]] | None = Field(None, max_length=10_000)
    query: DelayedRefunds | None = None
    mode: Literal["hybrid", "long_context", "retrieval_only"] = "hybrid"
    k: StrictInt = Field(24, ge=1, le=100)
    budget: StrictInt = Field(3072, ge=256, le=8192)
    max_new_tokens: StrictInt = Field(160, ge=1, le=512)
    rerank: StrictBool = False

    @model_validator(mode="after")
    def _one_selector(self) -> ReconcileIn:
        if (self.orders is None) == (self.query is None):
            raise ValueError("give exactly one of `orders` (a list) or `query` (a selection over the history)")
        return self

    def options(self) -> dict[str, Any]:
        return self.model_dump(include={"mode", "k", "budget", "max_new_tokens", "rerank"})


class JobOut(BaseModel):
    id: str
    tenant: str
    status: Literal["queued", "running", "cancelled", "done", "failed"]
    n_items: int
    counts: dict[str, int]
    progress: float
    runner: str
    created_at: UtcDatetime
    finished_at: UtcDatetime | None
