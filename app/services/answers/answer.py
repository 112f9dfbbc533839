"""`Answer`: what `Pipeline.ask` returns, with the engine's own token counts; `to_json` is the answer contract."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.services.answers.contracts import GenerationLike


@dataclass
class Usage:
    """The engine's work for one answer, summed over its generation passes (``kv_bytes``: the largest pass)."""

    prompt_tokens: int = 0
    generated_tokens: int = 0
    kv_bytes: int = 0
    generate_ms: float = 0.0

    def add(self, gen: GenerationLike, kv_bytes: int, ms: float) -> None:
        self.prompt_tokens += gen.prompt_tokens
        self.generated_tokens += len(gen.token_ids)
        self.kv_bytes = max(self.kv_bytes, kv_bytes)
        self.generate_ms += ms


@dataclass
class Answer:
    """What `ask` returns; `to_json` is the contract of `longhaul ask --json` and `POST /v1/ask`.

    ``index_version`` is the index version the evidence came from; ``prompt_tokens`` and ``generated_tokens`` are
    the engine's counts summed over the generation passes; ``kv_bytes`` is the full-precision KV cache the largest
    pass needed (`Generator.kv_bytes_for` of its prompt and answer). All three are 0 when no model ran."""

    question: str
    tenant: str
    mode: str
    answer: str
    verified: bool
    fallback: bool
    citations: list[dict[str, str]]
    evidence: list[dict[str, str]]  # packed order
    context_tokens: int
    timings_ms: dict[str, float]
    attempts: list[dict[str, Any]] = field(default_factory=list)
    index_version: str = ""
    prompt_tokens: int = 0
    generated_tokens: int = 0
    kv_bytes: int = 0
    plan: list[str] = field(default_factory=list)  # how a multi-part question was read, one line a part
    partial: bool = False  # verified after clauses with unsupported claims were left out (the answer says which)

    def to_json(self) -> dict[str, Any]:
        return {"answer": self.answer, "citations": self.citations,
                "context": {"tokens": self.context_tokens, "evidence": self.evidence},
                "timings_ms": self.timings_ms, "verified": self.verified, "fallback": self.fallback,
                "mode": self.mode, "tenant": self.tenant, "attempts": self.attempts,
                "index_version": self.index_version, "plan": self.plan, "partial": self.partial,
                "usage": {"prompt_tokens": self.prompt_tokens, "generated_tokens": self.generated_tokens,
                          "kv_bytes": self.kv_bytes}}
