"""The answer pipeline: retrieve -> pack -> generate -> verify, one function the CLI, the API and eval share."""

from __future__ import annotations

import time

from app.services.answers.answer import Answer, Usage
from app.services.answers.contracts import Generator, RetrieverSource, SearchesRecords
from app.services.answers.options import AskOptions
from app.services.answers.tenant_terms import constraints_of, lexicon_of
from ingest.vocab_model import Vocabulary
from packing.packer import Evidence
from packing.verify import answer_with_verification, timeline


def _ev(e: Evidence) -> dict[str, str]:
    return {"id": e.id, "source": e.source, "text": e.text}


class Pipeline:
    """Holds the engine and the tenants' retrievers; build one per process and call `ask`.

    ``llm`` is any `Generator` (the engine, a `LazyLLM` around it, a fake in tests); ``retrievers`` any
    `RetrieverSource`; ``max_question_chars`` is `Settings.max_question_chars`.
    """

    def __init__(self, *, llm: Generator, retrievers: RetrieverSource, max_question_chars: int) -> None:
        self.llm, self.retrievers, self.max_question_chars = llm, retrievers, max_question_chars

    def evidence(self, question: str, tenant: str, options: AskOptions, *, version: str | None = None
                 ) -> list[Evidence]:
        """The records the pipeline would pack for ``question``, from ``version`` of the tenant's index (default:
        the live one, read once). Hybrid and retrieval-only: the search hits, best first; long context: the most
        recent history, ranked newest first."""
        return self._evidence(self.retrievers.get(tenant, version or self.retrievers.live_version(tenant)),
                              question, options)

    @staticmethod
    def _evidence(retriever: SearchesRecords, question: str, options: AskOptions) -> list[Evidence]:
        if options.mode == "long_context":  # no retrieval: the most recent history that fits, in time order
            chunks = sorted(retriever.chunks, key=lambda c: c.metadata.get("timestamp") or "")
            picked = chunks[-max(options.k * 8, 64):]
            return [Evidence(c.id, c.source, c.text, 0.0, len(picked) - i, c.metadata.get("timestamp"))
                    for i, c in enumerate(picked)]
        hits = retriever.search(question, k=options.k, rerank=options.rerank)
        return [Evidence(h.id, h.source, h.text, float(h.score), i + 1, h.metadata.get("timestamp"))
                for i, h in enumerate(hits)]

    def vocabulary(self, tenant: str, version: str | None = None) -> Vocabulary:
        """The tenant vocabulary of ``version`` of its index (default: the live one)."""
        return self.retrievers.get(tenant, version or self.retrievers.live_version(tenant)).vocabulary

    def _check(self, question: str) -> str:
        question = question.strip()
        if not question:
            raise ValueError("the question is empty")
        if len(question) > self.max_question_chars:
            raise ValueError(f"the question has {len(question)} characters; the limit is "
                             f"{self.max_question_chars} (LONGHAUL_MAX_QUESTION_CHARS)")
        return question

    def ask(self, question: str, tenant: str, options: AskOptions | None = None, *,
            version: str | None = None) -> Answer:
        """Answer ``question`` from ``version`` of the tenant's index (default: the live one, read once here).

        A caller that keys a cache by the version (the API) reads it once and passes it, so the answer and its
        cache entry always name the version the evidence came from."""
        opts = options or AskOptions()
        question = self._check(question)
        t0 = time.perf_counter()
        version = version or self.retrievers.live_version(tenant)
        retriever = self.retrievers.get(tenant, version)
        evidence = self._evidence(retriever, question, opts)
        timings = {"retrieve": (time.perf_counter() - t0) * 1e3}
        if opts.mode == "retrieval_only":
            top = evidence[: min(len(evidence), 10)]
            timings["total"] = (time.perf_counter() - t0) * 1e3
            return Answer(question, tenant, opts.mode, "Top evidence, oldest first:\n" + timeline(top), False, True,
                          [_ev(e) for e in top], [_ev(e) for e in top], 0, timings, index_version=version)
        llm, kv_policy, usage = self.llm, opts.kv_spec(), Usage()

        def generate(prompt: str) -> str:
            t = time.perf_counter()
            out = llm.generate(prompt, max_new_tokens=opts.max_new_tokens, stop=["<|im_end|>"], chat=False,
                               kv_policy=kv_policy)
            usage.add(out, llm.kv_bytes_for(out.prompt_tokens + len(out.token_ids)), (time.perf_counter() - t) * 1e3)
            return out.text

        vocab = retriever.vocabulary
        result = answer_with_verification(question, evidence, llm.tokenizer, opts.budget, generate,
                                          lexicon_of(vocab), order=opts.order,
                                          constraints=constraints_of(question, vocab),
                                          attribute_uncited=True)
        total = (time.perf_counter() - t0) * 1e3
        timings.update({"generate": usage.generate_ms,
                        "pack_and_verify": total - timings["retrieve"] - usage.generate_ms, "total": total})
        packed = result.packed
        return Answer(
            question, tenant, opts.mode, result.answer, result.verified, result.fallback,
            [_ev(e) for e in result.citations],
            [dict(_ev(p.evidence), label=p.label) for p in packed.evidence] if packed else [],
            packed.tokens if packed else 0, timings,
            [{"context": a.context, "answer": a.answer, "verified": a.verification.verified, "tokens": a.tokens,
              "unsupported": [c.text for c in a.verification.unsupported]} for a in result.attempts],
            index_version=version, prompt_tokens=usage.prompt_tokens, generated_tokens=usage.generated_tokens,
            kv_bytes=usage.kv_bytes)
