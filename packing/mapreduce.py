"""Map-reduce over evidence that exceeds the budget: pack windows, answer each, synthesise one answer.

Every window is packed with ``pack`` (so each prompt fits the budget exactly); window-local labels are renumbered
to global ones (``E1..`` across windows in order), so the synthesised answer's citations resolve through
``MapReduce.labels``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from packing.claims import relabel
from packing.packer import Evidence, Packed, TokenizerLike, pack
from packing.prompt import NOT_FOUND, SYNTHESIS_SYSTEM, render_evidence, synthesis_message

Generate = Callable[[str], str]


@dataclass
class MapReduce:
    """The synthesised ``answer``, the packed ``windows``, the per-window answers with global labels, and
    ``labels`` (global label -> evidence). ``skipped`` holds ids of records too large for any window."""

    answer: str
    windows: list[Packed]
    partials: list[str]
    labels: dict[str, Evidence]
    skipped: list[str] = field(default_factory=list)

    @property
    def label_texts(self) -> dict[str, str]:
        """Global label -> the record as the model saw it, for ``verify``."""
        return {lab: render_evidence(lab, e.text, e.source, e.timestamp) for lab, e in self.labels.items()}


def _windows(
    question: str, evidence: Sequence[Evidence], tokenizer: TokenizerLike, budget: int, **kw: object
) -> tuple[list[Packed], list[str]]:
    remaining = list(evidence)
    windows: list[Packed] = []
    while remaining:
        p = pack(question, remaining, tokenizer, budget, **kw)  # type: ignore[arg-type]
        if not p.evidence:  # nothing left fits on its own
            return windows, [e.id for e in remaining]
        windows.append(p)
        left = set(p.dropped)
        remaining = [e for e in remaining if e.id in left]
    return windows, []


def _synthesise(question: str, partials: list[str], tokenizer: TokenizerLike, budget: int, generate: Generate) -> str:
    def prompt(parts: list[str]) -> str:
        msgs = [
            {"role": "system", "content": SYNTHESIS_SYSTEM},
            {"role": "user", "content": synthesis_message(question, parts)},
        ]
        return tokenizer.chat(msgs)

    while len(partials) > 1:
        groups: list[list[str]] = [[]]
        for part in partials:  # greedy groups whose synthesis prompt fits; a partial too big alone is left out
            if tokenizer.count(prompt([*groups[-1], part])) <= budget:
                groups[-1].append(part)
            elif tokenizer.count(prompt([part])) <= budget:
                groups.append([part])
        groups = [g for g in groups if g]
        if not groups:
            return partials[0]
        if all(len(g) == 1 for g in groups) and len(groups) > 1:
            return groups[0][0]  # no two fit together: keep the best window's answer
        partials = [generate(prompt(g)) if len(g) > 1 else g[0] for g in groups]
    return partials[0] if partials else ""


def map_reduce_run(
    question: str,
    evidence: Sequence[Evidence],
    tokenizer: TokenizerLike,
    budget: int,
    generate: Generate,
    **pack_options: object,
) -> MapReduce:
    """Answer per window of evidence, then synthesise (recursively, if the partial answers exceed the budget).

    Windows that answer "not found in the evidence" are left out of the synthesis; when only one window has an
    answer it is returned as is. ``pack_options`` go to ``pack`` (order, constraints, ...).
    """
    windows, skipped = _windows(question, evidence, tokenizer, budget, **pack_options)
    labels: dict[str, Evidence] = {}
    partials: list[str] = []
    for p in windows:
        mapping = {pe.label: f"E{len(labels) + i + 1}" for i, pe in enumerate(p.evidence)}
        for pe in p.evidence:
            labels[mapping[pe.label]] = pe.evidence
        partials.append(relabel(generate(p.prompt), mapping))
    useful = [a for a in partials if a.strip() and NOT_FOUND not in a.lower()]
    if not useful:
        answer = f"The answer was {NOT_FOUND}."
    else:
        answer = _synthesise(question, useful, tokenizer, budget, generate)
    return MapReduce(answer, windows, partials, labels, skipped)


def map_reduce(
    question: str,
    evidence: Sequence[Evidence],
    tokenizer: TokenizerLike,
    budget: int,
    generate: Generate,
    **pack_options: object,
) -> str:
    """The synthesised answer of ``map_reduce_run`` (its citations are global labels)."""
    return map_reduce_run(question, evidence, tokenizer, budget, generate, **pack_options).answer
