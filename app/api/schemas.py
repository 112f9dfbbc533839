"""Request and response bodies of the HTTP API (apart from the SQL rows)."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from app.services.answers.options import AskOptions


def _aware(d: datetime) -> datetime:
    return d if d.tzinfo else d.replace(tzinfo=UTC)  # SQLite returns naive UTC timestamps


UtcDatetime = Annotated[datetime, AfterValidator(_aware)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _inherited(name: str) -> Any:
    """`AskOptions`' field ``name`` as it is defined there (default, lower bound, strictness, description)."""
    return copy.copy(AskOptions.model_fields[name])


class ApiAskOptions(AskOptions):
    """`AskOptions` with the API's upper bounds on top of its own (a request's cost stays bounded)."""

    k: Annotated[int, Field(le=100)] = _inherited("k")
    budget: Annotated[int, Field(le=8192)] = _inherited("budget")
    max_new_tokens: Annotated[int, Field(le=512)] = _inherited("max_new_tokens")

    def options(self) -> dict[str, Any]:
        """The ask options alone (the cache key's and a job item's part), without the request's other fields."""
        return self.fields()


class AskRequest(ApiAskOptions):
    question: str = Field(min_length=1, max_length=4000, examples=["Why was the refund for order #100234 delayed?"])
    use_cache: StrictBool = True


class SearchIn(Strict):
    query: str = Field(min_length=1, max_length=4000, pattern=r"\S",
                       examples=["late shipments in March 2021"])
    k: StrictInt = Field(default=10, ge=1, le=100, description="number of hits")
    rerank: StrictBool = _inherited("rerank")


class HitOut(BaseModel):
    id: str
    source: str
    text: str
    score: float


class SearchOut(BaseModel):
    hits: list[HitOut] = Field(description="best first")
    index_version: str


class EvidenceOut(BaseModel):
    id: str
    source: str
    text: str
    label: str | None = None


class ContextOut(BaseModel):
    tokens: int
    evidence: list[EvidenceOut]


class UsageOut(BaseModel):
    prompt_tokens: int = Field(default=0, description="the engine's prompt tokens, summed over the generation passes")
    generated_tokens: int = Field(default=0, description="the engine's generated tokens, summed over the passes")
    kv_bytes: int = Field(default=0, description="full-precision KV cache bytes of the largest pass")


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
    usage: UsageOut = UsageOut()
    plan: list[str] = Field(default=[], description="how a multi-part question was read, one line a part")
    partial: bool = Field(default=False, description="verified after clauses with unsupported claims were left out")


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
    source: Literal["api", "folder"] = Field("api", description="uploaded through the API, or from an ingested "
                                                                "folder (change it there)")
    ingested_at: UtcDatetime


class DocumentList(BaseModel):
    total: int
    documents: list[DocumentOut] = Field(description="by id")


class RecordLines(BaseModel):
    id: str = Field(description="the record (chunk) id, as citations name it")
    first: int = Field(description="first line, from 1")
    last: int


class DocumentText(BaseModel):
    id: str
    doc_type: str
    text: str
    truncated: bool = Field(description="the document is longer than the text shown")
    records: list[RecordLines] = Field(description="the document's records and their lines, in file order")


class KeyOut(BaseModel):
    id: str
    tenant: str
    scopes: list[str]
    name: str


class VersionOut(BaseModel):
    id: int
    version: str | None = Field(description="null while it is being built")
    status: Literal["building", "live", "retired", "failed"]
    n_chunks: int
    detail: str | None
    created_at: UtcDatetime
    on_disk: bool = Field(description="kept on disk: POST /admin/reindex/rollback can make it live again")


class VersionList(BaseModel):
    live: str | None
    versions: list[VersionOut] = Field(description="newest first")


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
    detail: str | None = Field(None, description="why it failed")


class RollbackIn(Strict):
    version: str = Field(min_length=1, max_length=32, description="an index version kept on disk, e.g. v000003")


class RollbackOut(BaseModel):
    tenant: str
    index_version: str
    previous: str | None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, bool | None] = {}


class DelayedRefunds(Strict):
    kind: Literal["delayed_refunds"] = "delayed_refunds"
    min_delay_days: StrictInt = Field(ge=0, le=3650, description="refund issued more than this many days after "
                                                                 "the return")
    date_from: date | None = Field(None, description="refund date on or after (inclusive)")
    date_to: date | None = Field(None, description="refund date on or before (inclusive)")


class ReconcileIn(ApiAskOptions):
    question: str = Field(default="Why was the refund for order {order} delayed?", min_length=1, max_length=2000,
                          pattern=r"\{order\}", description="asked once per order; `{order}` is replaced")
    orders: list[Annotated[str, Field(pattern=r"^#?[A-Za-z0-9-]{1,32}$")]] | None = Field(None, max_length=10_000)
    query: DelayedRefunds | None = None

    @model_validator(mode="after")
    def _one_selector(self) -> ReconcileIn:
        if (self.orders is None) == (self.query is None):
            raise ValueError("give exactly one of `orders` (a list) or `query` (a selection over the history)")
        return self


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


class JobList(BaseModel):
    jobs: list[JobOut] = Field(description="newest first")
