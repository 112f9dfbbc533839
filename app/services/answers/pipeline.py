"""The answer pipeline: retrieve -> pack -> generate -> verify, one function the CLI, the API and eval share."""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field

from app.services.answers.about import answer_about, identify
from app.services.answers.answer import Answer, Usage
from app.services.answers.compare import Computed
from app.services.answers.computed import answer_from_records, carried_over, computable, fact_table
from app.services.answers.contracts import Generator, RetrieverSource, SearchesRecords
from app.services.answers.events import Listener, Progress
from app.services.answers.options import AskOptions, kv_for_prompt
from app.services.answers.policy import ASKS_VERSION, answer_policy
from app.services.answers.tenant_terms import constraints_of, lexicon_of
from ingest.vocab_model import Vocabulary
from packing.claims import Lexicon
from packing.facts import FactTable
from packing.packer import Evidence
from packing.plan import Part, plan
from packing.subjects import only_about
from packing.verify import VerifiedAnswer, answer_with_verification, timeline
from retrieval.policies import PolicyVersion, policy_versions


@dataclass
class VersionTerms:
    """What the answer stages derive from one index version, once: the verifier's lexicon (claims are cached by
    it) and, on the first question the records answer, the fact table."""

    retriever: SearchesRecords
    lexicon: Lexicon = field(init=False)
    _facts: FactTable | None = field(default=None, init=False)
    _policies: dict[str, list[PolicyVersion]] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.lexicon = lexicon_of(self.retriever.vocabulary)

    @property
    def facts(self) -> FactTable:
        if self._facts is None:
            self._facts = fact_table(self.retriever.chunks, self.retriever.vocabulary)
        return self._facts

    @property
    def policies(self) -> dict[str, list[PolicyVersion]]:
        """Policy name -> its versions with a document and the day each took effect, read on first use."""
        if self._policies is None:
            self._policies = policy_versions(self.retriever.chunks, self.retriever.vocabulary)
        return self._policies


def _ev(e: Evidence) -> dict[str, str]:
    return {"id": e.id, "source": e.source, "text": e.text}


class Pipeline:
    """Holds the engine and the tenants' retrievers; build one per process and call `ask`.

    ``llm`` is any `Generator` (the engine, a `LazyLLM` around it, a fake in tests); ``retrievers`` any
    `RetrieverSource`; ``max_question_chars`` is `Settings.max_question_chars`.
    """

    def __init__(self, *, llm: Generator, retrievers: RetrieverSource, max_question_chars: int) -> None:
        self.llm, self.retrievers, self.max_question_chars = llm, retrievers, max_question_chars
        # per retriever (one index version), dropped with it when the retriever cache lets it go
        self._terms: weakref.WeakKeyDictionary[SearchesRecords, VersionTerms] = weakref.WeakKeyDictionary()

    def _terms_of(self, retriever: SearchesRecords) -> VersionTerms:
        terms = self._terms.get(retriever)
        if terms is None:
            terms = self._terms[retriever] = VersionTerms(retriever)
        return terms

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
            version: str | None = None, listener: Listener | None = None) -> Answer:
        """Answer ``question`` from ``version`` of the tenant's index (default: the live one, read once here).

        A caller that keys a cache by the version (the API) reads it once and passes it, so the answer and its
        cache entry always name the version the evidence came from. ``listener`` hears the stages as they run and
        the draft's tokens as they are generated (`app.services.answers.events`)."""
        opts = options or AskOptions()
        question = self._check(question)
        progress = Progress(listener)
        t0 = progress.t0
        progress.start("retrieve", mode=opts.mode)
        version = version or self.retrievers.live_version(tenant)
        retriever = self.retrievers.get(tenant, version)
        evidence = self._evidence(retriever, question, opts)
        timings = {"retrieve": (time.perf_counter() - t0) * 1e3}
        progress.done("retrieve", records=len(evidence), index_version=version)
        if opts.mode == "retrieval_only":
            top = evidence[: min(len(evidence), 10)]
            timings["total"] = (time.perf_counter() - t0) * 1e3
            return Answer(question, tenant, opts.mode, "Top evidence, oldest first:\n" + timeline(top), False, True,
                          [_ev(e) for e in top], [_ev(e) for e in top], 0, timings, index_version=version)
        parts = plan(question) if opts.mode == "hybrid" else [Part(question)]
        usage = Usage()
        progress.start("pack")
        if len(parts) == 1 and (parts[0].kind == "lookup" or answer_from_records(
                parts[0], retriever.vocabulary, self._terms_of(retriever).facts, {}) is None):
            # a question about one subject that its own records settle is answered from them, without the model;
            # otherwise the model drafts, and the records' unverified answer stands in for a draft that fails
            about = self._about(question, retriever, opts)
            result = (VerifiedAnswer("", True, False, [], None, []) if about is not None and about.verified
                      else self._lookup(question, evidence, retriever, opts, usage, progress))
            if about is None and not (result.verified and not result.partial) and opts.mode == "hybrid":
                about = identify(question, [(e.id, e.text) for e in evidence], retriever.vocabulary)
            if about is not None and (about.verified or not (result.verified and not result.partial)):
                how = "from the records" if about.verified else "the draft was not verified; from the records"
                return self._answer(question, tenant, opts, version, result, usage, timings, progress,
                                    [f"lookup: {parts[0].text} -> {how}: {about.filter}"],
                                    self._cited(about, retriever, 1), about.text, about.verified, computed=True)
            return self._answer(question, tenant, opts, version, result, usage, timings, progress)
        return self._planned(question, parts, tenant, opts, version, retriever, evidence, usage, timings, progress)

    def _lookup(self, question: str, evidence: list[Evidence], retriever: SearchesRecords, opts: AskOptions,
                usage: Usage, progress: Progress) -> VerifiedAnswer:
        """Pack -> generate -> verify over ``evidence`` (retrieval already done); ``progress`` hears each pass
        and its tokens."""
        llm, kv_policy = self.llm, opts.kv_spec()

        def generate(prompt: str) -> str:
            progress.generating()
            t = time.perf_counter()
            out = llm.generate(prompt, max_new_tokens=opts.max_new_tokens, stop=["<|im_end|>"], chat=False,
                               kv_policy=kv_for_prompt(kv_policy, prompt), on_token=progress.token)
            usage.add(out, llm.kv_bytes_for(out.prompt_tokens + len(out.token_ids)), (time.perf_counter() - t) * 1e3)
            progress.generated(len(out.token_ids))
            return out.text

        vocab, lexicon = retriever.vocabulary, self._terms_of(retriever).lexicon
        return answer_with_verification(question, evidence, llm.tokenizer, opts.budget, generate, lexicon,
                                        order=opts.order, constraints=constraints_of(question, vocab),
                                        attribute_uncited=True)

    def _about(self, question: str, retriever: SearchesRecords, opts: AskOptions) -> Computed | None:
        """The records' own answer to a lookup (hybrid mode only): the policy version in force
        (`policy.answer_policy`), else what the subject's records say (`about.answer_about`)."""
        if opts.mode != "hybrid":
            return None
        terms = self._terms_of(retriever)
        if ASKS_VERSION.search(question):
            found = answer_policy(question, retriever.vocabulary, terms.facts, terms.policies, retriever.chunks)
            if found is not None:
                return found
        return answer_about(question, retriever.vocabulary, terms.facts)

    @staticmethod
    def _cited(computed: Computed, retriever: SearchesRecords, first_label: int) -> list[dict[str, str]]:
        by_id = {c.id: c for c in retriever.chunks}
        return [{"id": r, "source": by_id[r].source, "text": by_id[r].text, "label": f"E{first_label + j}"}
                for j, r in enumerate(computed.record_ids)]

    def _answer(self, question: str, tenant: str, opts: AskOptions, version: str, result: VerifiedAnswer,
                usage: Usage, timings: dict[str, float], progress: Progress, plan_lines: list[str] | None = None,
                extra: list[dict[str, str]] | None = None, text: str | None = None,
                verified: bool | None = None, computed: bool = False) -> Answer:
        progress.finished(result.verified)  # the model's last pass; a composed answer may still be unverified
        # an answer whose draft lost a clause is not the whole answer: it is not verified (a planned question's
        # later parts answer what its first part's draft left out, so the caller decides there)
        verified = (result.verified and not result.partial) if verified is None else verified
        total = progress.elapsed_ms()
        timings.update({"generate": usage.generate_ms,
                        "pack_and_verify": total - timings["retrieve"] - usage.generate_ms, "total": total})
        if progress.ttft_ms is not None:
            timings["first_token"] = progress.ttft_ms
        packed, extra = result.packed, extra or []
        # an answer from the subject's records replaces the draft: its labels are its own records'
        drafted = [] if computed else [_ev(e) for e in result.citations]
        shown = [] if computed or not packed else [dict(_ev(p.evidence), label=p.label) for p in packed.evidence]
        return Answer(
            question, tenant, opts.mode, result.answer if text is None else text, verified,
            result.fallback and not computed,
            drafted + [{k: e[k] for k in ("id", "source", "text")} for e in extra], shown + extra,
            packed.tokens if packed else 0, timings,
            [{"context": a.context, "answer": a.answer, "verified": a.verification.verified, "tokens": a.tokens,
              "unsupported": [c.text for c in a.verification.unsupported]} for a in result.attempts],
            index_version=version, prompt_tokens=usage.prompt_tokens, generated_tokens=usage.generated_tokens,
            kv_bytes=usage.kv_bytes, plan=plan_lines or [], partial=result.partial and not computed)

    def _planned(self, question: str, parts: list[Part], tenant: str, opts: AskOptions, version: str,
                 retriever: SearchesRecords, evidence: list[Evidence], usage: Usage, timings: dict[str, float],
                 progress: Progress) -> Answer:
        """Each part on its own pass: lookups through the model, lists and counts from the records; composed in
        order, each part keeping its citations; verified only when every part is."""
        vocab = retriever.vocabulary
        terms = self._terms_of(retriever)
        table = terms.facts
        lookups = [i for i, p in enumerate(parts) if not computable(p)]
        texts, plan_lines = [""] * len(parts), [""] * len(parts)
        extra: list[dict[str, str]] = []
        first: VerifiedAnswer | None = None
        verified, inherited = True, {}
        replaced, label0 = False, 1
        if lookups:  # one model pass: its packed context holds labels E1..En, computed parts come after
            i = lookups[0]
            about = self._about(parts[i].text, retriever, opts)
            if about is None or not about.verified:
                plan_lines[i] = f"{parts[i].describe()} -> retrieval and the model"
                # the whole question is retrieved, packed and asked (the small model answers its first part more
                # reliably with the question's own wording); claims about the other parts are left out by
                # verification
                first = self._lookup(question, evidence, retriever, opts, usage, progress)
                # what the records answer is not the draft's to say: its clauses about other orders go
                texts[i], verified = only_about(first.answer, parts[i].text, terms.lexicon), first.verified
                label0 = (len(first.packed.evidence) if first.packed else 0) + 1
            if about is not None and (first is None or not first.verified):
                # the subject's own records answer the part (or stand in for a draft that failed)
                how = "from the records" if about.verified else "the draft was not verified; from the records"
                plan_lines[i] = f"{parts[i].describe()} -> {how}: {about.filter}"
                texts[i], verified, label0, replaced = about.text, about.verified, 1, True
                extra += self._cited(about, retriever, 1)
            # "the same pattern": what the verified answer names, else only what the subject's own records show
            inherited = carried_over(parts[i].text, texts[i] if verified else "", vocab, table)
        for i, part in enumerate(parts):
            if lookups and i == lookups[0]:
                continue
            computed = answer_from_records(part, vocab, table, inherited if lookups and i > lookups[0] else {},
                                           label0 + len(extra))
            if computed is None:
                plan_lines[i] = f"{part.describe()} -> not answered: the records cannot express it"
                texts[i], verified = f"(Not answered: {part.text})", False
                continue
            plan_lines[i] = f"{part.describe()} -> from the records: {computed.filter}"
            texts[i], verified = computed.text, verified and computed.verified
            extra += self._cited(computed, retriever, label0 + len(extra))
        if first is None:
            first = VerifiedAnswer("", True, False, [], None, [])
        return self._answer(question, tenant, opts, version, first, usage, timings, progress, plan_lines, extra,
                            "\n".join(texts), verified, computed=replaced)
