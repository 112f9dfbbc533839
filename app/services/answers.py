"""The answer pipeline: retrieve -> pack -> generate -> verify, one function the CLI, the API and eval share."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from app.core.settings import Settings
from ingest.domain import CARRIERS, DATE_RE, FULFILLMENT_CENTERS, ORDER_ID_RE
from packing.packer import Evidence
from packing.verify import answer_with_verification, timeline

Mode = Literal["hybrid", "long_context", "retrieval_only"]
MODES: tuple[str, ...] = ("hybrid", "long_context", "retrieval_only")
# carriers by name or code (the records name them by code), fulfillment centers by code
ENTITIES: tuple[str, ...] = (tuple(f"{c.name}|{c.code}" for c in CARRIERS)
                              + tuple(fc.code for fc in FULFILLMENT_CENTERS))


@dataclass(frozen=True)
class AskOptions:
    """Per-question options; ``budget`` is the packed prompt's size in engine tokens."""

    mode: str = "hybrid"
    k: int = 24
    budget: int = 3072
    max_new_tokens: int = 160
    rerank: bool = False  # the cross-encoder adds ~2 s per question on a 2-core CPU; recall@20 is the same here
    order: str = "ours"
    kv: str | None = None  # the request's KV cache: "chunkkv@4", "snapkv@4:int8", "int8" (engine.kv.parse_kv_spec)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}: choose one of {', '.join(MODES)}")
        if self.k < 1:
            raise ValueError(f"k must be >= 1, got {self.k}")
        if self.budget < 256:
            raise ValueError(f"budget {self.budget} tokens cannot hold a question and evidence: use >= 256")
        if self.kv is not None:
            from engine.kv import parse_kv_spec

            parse_kv_spec(self.kv)  # a clear error now, not after retrieval
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")


@dataclass
class Answer:
    """What `ask` returns; `to_json` is the contract of `longhaul ask --json` and `POST /v1/ask`."""

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

    def to_json(self) -> dict[str, Any]:
        return {"answer": self.answer, "citations": self.citations,
                "context": {"tokens": self.context_tokens, "evidence": self.evidence},
                "timings_ms": self.timings_ms, "verified": self.verified, "fallback": self.fallback,
                "mode": self.mode, "tenant": self.tenant, "attempts": self.attempts}


def constraints_of(question: str) -> list[str]:
    """Hard constraints stated in the question (order ids, dates) to restate at both ends of the prompt."""
    out = [f"order #{m}" for m in ORDER_ID_RE.findall(question)]
    out += ["-".join(m) for m in DATE_RE.findall(question)]
    return out


def _ev(e: Evidence) -> dict[str, str]:
    return {"id": e.id, "source": e.source, "text": e.text}


class Pipeline:
    """Holds the loaded engine and the retrievers; build one per process and call `ask`.

    ``llm_factory`` and ``retriever_for`` are injected so tests and eval can swap the stages.
    """

    def __init__(self, settings: Settings, *, llm_factory: Callable[[], Any] | None = None,
                 retriever_for: Callable[[str], Any] | None = None) -> None:
        self.settings = settings
        self._llm_factory = llm_factory or self._default_llm
        self._retriever_for = retriever_for or self._default_retriever
        self._llm: Any = None

    def _default_llm(self) -> Any:
        from engine.llm import LLM

        return LLM.load(threads=self.settings.threads or None)

    def _default_retriever(self, tenant: str) -> Any:
        from app.services.retrievers import RetrieverCache

        self._retrievers = getattr(self, "_retrievers", None) or RetrieverCache(self.settings)  # one per Pipeline
        return self._retrievers.live(tenant)

    @property
    def llm(self) -> Any:
        if self._llm is None:
            self._llm = self._llm_factory()
        return self._llm

    def _evidence(self, question: str, tenant: str, opts: AskOptions) -> list[Evidence]:
        retriever = self._retriever_for(tenant)
        if opts.mode == "long_context":  # no retrieval: the most recent history that fits, in time order
            chunks = sorted(retriever.chunks, key=lambda c: c.metadata.get("timestamp") or "")
            picked = chunks[-max(opts.k * 8, 64):]
            return [Evidence(c.id, c.source, c.text, 0.0, len(picked) - i, c.metadata.get("timestamp"))
                    for i, c in enumerate(picked)]
        hits = retriever.search(question, k=opts.k, rerank=opts.rerank)
        return [Evidence(h.id, h.source, h.text, float(h.score), i + 1, h.metadata.get("timestamp"))
                for i, h in enumerate(hits)]

    def ask(self, question: str, tenant: str, options: AskOptions | None = None) -> Answer:
        opts = options or AskOptions()
        question = question.strip()
        if not question:
            raise ValueError("the question is empty")
        if len(question) > self.settings.max_question_chars:
            raise ValueError(f"the question has {len(question)} characters; the limit is "
                             f"{self.settings.max_question_chars} (LONGHAUL_MAX_QUESTION_CHARS)")
        t0 = time.perf_counter()
        evidence = self._evidence(question, tenant, opts)
        t_retrieve = time.perf_counter()
        timings = {"retrieve": (t_retrieve - t0) * 1e3}
        if opts.mode == "retrieval_only":
            top = evidence[: min(len(evidence), 10)]
            timings["total"] = (time.perf_counter() - t0) * 1e3
            return Answer(question, tenant, opts.mode, "Top evidence, oldest first:\n" + timeline(top), False, True,
                          [_ev(e) for e in top], [_ev(e) for e in top], 0, timings)
        llm = self.llm
        gen_ms = [0.0]

        def generate(prompt: str) -> str:
            t = time.perf_counter()
            out = llm.generate(prompt, max_new_tokens=opts.max_new_tokens, stop=["<|im_end|>"], chat=False,
                               **self._kv_kwargs(opts))
            gen_ms[0] += (time.perf_counter() - t) * 1e3
            return str(out.text)

        result = answer_with_verification(question, evidence, llm.tokenizer, opts.budget, generate, ENTITIES,
                                          order=opts.order, constraints=constraints_of(question),
                                          attribute_uncited=True)
        total = (time.perf_counter() - t0) * 1e3
        timings.update({"generate": gen_ms[0], "pack_and_verify": total - timings["retrieve"] - gen_ms[0],
                        "total": total})
        packed = result.packed
        return Answer(
            question, tenant, opts.mode, result.answer, result.verified, result.fallback,
            [_ev(e) for e in result.citations],
            [dict(_ev(p.evidence), label=p.label) for p in packed.evidence] if packed else [],
            packed.tokens if packed else 0, timings,
            [{"context": a.context, "answer": a.answer, "verified": a.verification.verified, "tokens": a.tokens,
              "unsupported": [c.text for c in a.verification.unsupported]} for a in result.attempts])

    @staticmethod
    def _kv_kwargs(opts: AskOptions) -> dict[str, Any]:
        if opts.kv is None or opts.kv.strip() in ("", "full"):
            return {}
        from engine.kv import parse_kv_spec

        return {"kv_policy": parse_kv_spec(opts.kv)}


__all__ = ["MODES", "Answer", "AskOptions", "Pipeline", "asdict", "constraints_of"]
