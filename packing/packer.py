"""Position-aware packing of evidence into one chat prompt under an exact token budget.

Steps: priority (retrieval rank; for ``ours``, evidence naming an identifier of the question first) -> drop near
duplicates -> keep what fits the budget, by priority, whole records only -> place by the order -> label ``[E1]..``
by position in the prompt (E1 is the first record the model reads) -> render with the chat template.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from packing.claims import identifiers
from packing.order import get_order, near_duplicates, order_ours_chronological
from packing.prompt import ANSWER_INSTRUCTION, DEFAULT_SYSTEM, ask_lines, render_evidence, user_message
from packing.segments import PromptSpan, SegmentedPrompt, locate


class TokenizerLike(Protocol):
    def count(self, text: str) -> int: ...

    def chat(self, messages: Sequence[dict[str, str]], add_generation_prompt: bool = True) -> str: ...


@dataclass(frozen=True)
class Evidence:
    """One retrieved record. ``rank`` is 1 for the retriever's best."""

    id: str
    source: str
    text: str
    score: float
    rank: int
    timestamp: str | None = None


@dataclass(frozen=True)
class PackedEvidence:
    """A record as packed: its ``label`` (``E3``), its place in the prompt (0-based) and the record itself."""

    label: str
    position: int
    evidence: Evidence

    @property
    def id(self) -> str:
        return self.evidence.id

    @property
    def source(self) -> str:
        return self.evidence.source

    @property
    def text(self) -> str:
        return self.evidence.text

    @property
    def rank(self) -> int:
        return self.evidence.rank

    @property
    def timestamp(self) -> str | None:
        return self.evidence.timestamp

    def rendered(self) -> str:
        e = self.evidence
        return render_evidence(self.label, e.text, e.source, e.timestamp)


@dataclass
class Packed:
    """A prompt ready for the engine, and what went into it.

    ``prompt`` is a `SegmentedPrompt`: its ``segments`` are the character spans of each record, the question and
    the instructions. ``tokens`` is the exact token count of ``prompt``; ``evidence`` is in prompt order;
    ``dropped`` holds the ids that did not fit (best first); ``duplicates`` maps a removed near-duplicate's id to
    the id it duplicates.
    """

    prompt: str
    tokens: int
    question: str
    budget: int
    order: str
    evidence: list[PackedEvidence]
    dropped: list[str] = field(default_factory=list)
    duplicates: dict[str, str] = field(default_factory=dict)
    constraints: list[str] = field(default_factory=list)

    @property
    def segments(self) -> tuple[PromptSpan, ...]:
        """Character spans of the prompt's records (in ``evidence`` order), question and instructions."""
        return self.prompt.segments if isinstance(self.prompt, SegmentedPrompt) else ()

    @property
    def labels(self) -> dict[str, str]:
        """``{"E1": evidence id, ...}``."""
        return {p.label: p.id for p in self.evidence}

    def by_label(self, label: str) -> PackedEvidence:
        for p in self.evidence:
            if p.label == label:
                return p
        raise KeyError(f"no evidence labelled {label!r}; labels are {list(self.labels)}")


def _priority(question: str, evidence: Sequence[Evidence], constraints: Sequence[str], promote: bool) -> list[Evidence]:
    ranked = sorted(evidence, key=lambda e: e.rank)
    keys = identifiers([question, *constraints]) if promote else set()
    if not keys:
        return ranked
    hit = [e for e in ranked if identifiers([e.text]) & keys]
    hit_ids = {e.id for e in hit}
    return hit + [e for e in ranked if e.id not in hit_ids]


def _validate(question: str, evidence: Sequence[Evidence], budget_tokens: int, order: str, chrono: bool) -> None:
    if not question.strip():
        raise ValueError("question is empty; pass the agent's question text")
    if budget_tokens <= 0:
        raise ValueError(f"budget_tokens must be positive, got {budget_tokens}")
    get_order(order)
    if chrono and order != "ours":
        raise ValueError(f"chronological_tiers applies to order='ours' only, not {order!r}")
    ids = [e.id for e in evidence]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"evidence ids must be unique; repeated: {dup[:5]}")


def pack(
    question: str,
    evidence: Sequence[Evidence],
    tokenizer: TokenizerLike,
    budget_tokens: int,
    *,
    order: str = "ours",
    chronological_tiers: bool = False,
    constraints: Sequence[str] = (),
    system: str = DEFAULT_SYSTEM,
    restate: bool | None = None,
    promote: bool | None = None,
    dedupe_threshold: float = 0.9,
) -> Packed:
    """Pack ``evidence`` for ``question`` into a chat prompt of at most ``budget_tokens`` tokens.

    Parameters
    ----------
    order
        ``"ours"`` (best at both ends, weakest in the middle), ``"retrieval"`` (rank order) or ``"reorder"``
        (LangChain's LongContextReorder).
    chronological_tiers
        With ``order="ours"``: place by tiers of 4 ranks and read each tier forward in time.
    constraints
        Hard constraints stated with the question, e.g. ``["order #123456", "2021-03-01 to 2021-03-31"]``.
    restate
        State the question and constraints before and after the evidence; default: only for ``"ours"`` (the
        baselines reproduce a plain RAG prompt, question once after the evidence).
    promote
        Give evidence that names an order id, exception code or SKU of the question or constraints priority over
        the rest (for the budget and the placement); default: only for ``"ours"``.
    dedupe_threshold
        Shingled Jaccard at or above which the lower-priority record is removed; above 1 disables it.

    The budget counts the prompt only: leave room for the answer in the model's context. Records that do not fit
    are dropped whole, lowest priority first; a budget too small for the question alone raises ``ValueError``.
    """
    _validate(question, evidence, budget_tokens, order, chronological_tiers)
    ours = order == "ours"
    restate = ours if restate is None else restate
    cons = [c for c in constraints if c.strip()]
    place = get_order(order)
    ranked = _priority(question, evidence, cons, ours if promote is None else promote)
    dup = near_duplicates([e.text for e in ranked], dedupe_threshold)
    duplicates = {ranked[i].id: ranked[k].id for i, k in dup.items()}
    candidates = [e for i, e in enumerate(ranked) if i not in dup]

    def render(kept: list[Evidence]) -> tuple[str, list[PackedEvidence]]:
        placed = order_ours_chronological(kept) if chronological_tiers else place(kept)
        packed = [PackedEvidence(f"E{i + 1}", i, e) for i, e in enumerate(placed)]
        blocks = [p.rendered() for p in packed]
        user = user_message(question, blocks, cons, restate)
        msgs = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        prompt = tokenizer.chat(msgs)
        return locate(prompt, system, user, blocks, [ask_lines(question, cons)], ANSWER_INSTRUCTION), packed

    base = tokenizer.count(render([])[0])
    if base > budget_tokens:
        raise ValueError(
            f"budget_tokens={budget_tokens} is too small for the question and instructions alone ({base} tokens); "
            "raise the budget or shorten the question"
        )
    # Estimate: token counts add up across the "\n\n" between records (the pre-tokenizer splits there), and the
    # labels of k packed records are always E1..Ek, whatever the placement. Then check exactly and correct.
    sep = tokenizer.count("a\n\n[E1]") - tokenizer.count("a") - tokenizer.count("[E1]")  # "\n\n" alone is 1 token
    label = [tokenizer.count(f"[E{i}]") for i in range(len(candidates) + 1)]
    body = {e.id: tokenizer.count(render_evidence("E0", e.text, e.source, e.timestamp)) - label[0] for e in candidates}
    kept: list[Evidence] = []
    used = base - tokenizer.count("(none)")
    for e in candidates:
        need = body[e.id] + label[len(kept) + 1] + (sep if kept else 0)
        if used + need <= budget_tokens:
            kept.append(e)
            used += need
    prompt, packed = render(kept)
    tokens = tokenizer.count(prompt)
    while tokens > budget_tokens:  # exact: drop the lowest priority until it fits
        kept.pop()
        prompt, packed = render(kept)
        tokens = tokenizer.count(prompt)
    pos = {e.id: i for i, e in enumerate(candidates)}
    misses = 0
    for e in candidates:  # refill, in case the estimate was high (each try is a full count: give up after 2 misses)
        if misses >= 2:
            break
        if e.id in {k.id for k in kept} or tokens + body[e.id] + label[len(kept) + 1] + sep - 2 > budget_tokens:
            continue
        trial = sorted([*kept, e], key=lambda x: pos[x.id])
        p2, packed2 = render(trial)
        n2 = tokenizer.count(p2)
        if n2 <= budget_tokens:
            kept, prompt, packed, tokens = trial, p2, packed2, n2
        else:
            misses += 1
    assert tokens <= budget_tokens
    kept_ids = {e.id for e in kept}
    dropped = [e.id for e in candidates if e.id not in kept_ids]
    return Packed(prompt, tokens, question, budget_tokens, order, packed, dropped, duplicates, cons)
