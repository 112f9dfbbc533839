"""Multi-pass answering: pack -> generate -> verify the answer's claims against the evidence it cites; retry once
on a narrower context; if still unsupported, say so and return the evidence timeline instead of an invented answer.

``generate`` is any ``Callable[[str], str]`` taking the full chat-templated prompt (the engine, or a fake in tests).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from packing.arithmetic import correct_day_counts, day_differences
from packing.claims import (
    IDENTIFIER_KINDS,
    Claim,
    ClaimIndex,
    EntitiesLike,
    cited_labels,
    extract_claims,
    strip_citations,
)
from packing.mapreduce import Generate, map_reduce, map_reduce_run
from packing.packer import Evidence, Packed, PackedEvidence, TokenizerLike, pack
from packing.prompt import NOT_FOUND
from packing.quote import quoted_answer
from packing.subjects import answers_what_was_asked, may_support

__all__ = [
    "attribute",
    "Verification",
    "VerifiedAnswer",
    "Attempt",
    "verify",
    "timeline",
    "answer_with_verification",
    "extract_claims",
    "map_reduce",
    "map_reduce_run",
]


@dataclass
class Verification:
    """``verified`` is True only when the answer cites known labels, every claim is supported by the cited
    evidence and no cited label is unknown."""

    verified: bool
    claims: list[Claim]
    unsupported: list[Claim]
    cited_labels: list[str]
    unknown_labels: list[str] = field(default_factory=list)


def _label_texts(evidence: Packed | Mapping[str, str] | Sequence[str]) -> dict[str, str]:
    if isinstance(evidence, Packed):
        return {p.label: p.rendered() for p in evidence.evidence}
    if isinstance(evidence, Mapping):
        return dict(evidence)
    if isinstance(evidence, str):
        raise TypeError("pass the evidence texts as a list, not one string")
    return {f"E{i + 1}": t for i, t in enumerate(evidence)}


def verify(
    answer: str,
    evidence: Packed | Mapping[str, str] | Sequence[str],
    entities: EntitiesLike = (),
    *,
    given: str = "",
) -> Verification:
    """Check each claim of ``answer`` against the evidence it cites.

    Parameters
    ----------
    evidence
        The ``Packed`` prompt the answer came from, a ``{label: text}`` mapping, or texts in packed order
        (labelled ``E1..``).
    entities
        Names that count as claims too (carriers, fulfillment centers).
    given
        Text whose claims need no evidence, typically the question (its order id may be repeated freely).

    A claim is supported when its normalised value occurs in a cited record (dates match across formats; a month
    matches any date in it; amounts ignore thousands separators) that may speak for the question's subject: when
    the question names orders or RMAs, a record naming only others does not, and a record addressing the model
    ("ignore previous instructions ...") never does. An answer that cites nothing is checked against all the
    evidence but is never ``verified``.
    """
    texts = _label_texts(evidence)
    cited = cited_labels(answer)
    known = [lab for lab in cited if lab in texts]
    unknown = [lab for lab in cited if lab not in texts]
    pool = [texts[lab] for lab in known] if known else list(texts.values())
    pool = [t for t in pool if may_support(t, given, answer, entities)]
    index, free = ClaimIndex(pool, entities), ClaimIndex([given], entities)
    claims = _claims(answer, entities, given)
    computed = day_differences(answer, entities)  # "9 days" between two dates the answer states (and cites)
    unsupported = [c for c in claims if not index.supports(c) and not free.supports(c)
                   and not (c.kind == "duration" and c.value in computed)]
    whole = answers_what_was_asked(answer, given, claims)
    return Verification(bool(known) and whole and not unsupported and not unknown, claims, unsupported, known,
                        unknown)


_WHICH_ORDERS_IN_YEAR = re.compile(r"\bwhich orders\b.*\bin ((?:19|20)\d{2})\b", re.I)


def _claims(answer: str, entities: EntitiesLike, question: str) -> list[Claim]:
    """Every claim ``verify`` checks in ``answer``: its own, plus the orders it lists for the question's year."""
    return extract_claims(answer, entities) + _asked_year_orders(answer, question, entities)


def _asked_year_orders(answer: str, question: str, entities: EntitiesLike = ()) -> list[Claim]:
    """For "Which orders ... in 2020 ...?": each order the answer lists (and the question does not name) is claimed
    to fall in that year, so a record must name it with a date of that year (kind ``order_year``)."""
    m = _WHICH_ORDERS_IN_YEAR.search(question)
    if m is None:
        return []
    asked = {c.value for c in extract_claims(question, entities) if c.kind == "order_id"}
    ids = dict.fromkeys(
        c.value for c in extract_claims(answer, entities) if c.kind == "order_id" and c.value not in asked
    )
    return [Claim("order_year", f"{o} in {m.group(1)}", f"{o}@{m.group(1)}") for o in ids]


def attribute(answer: str, packed: Packed, entities: EntitiesLike = (), *, given: str = "") -> str | None:
    """Cite, after the fact, the best-ranked record that holds *every* claim of an uncited answer together with the
    identifiers of ``given`` (the question); ``None`` when no single record does, or the answer has no claims.

    Requiring one record to hold them all keeps facts mixed from several records (the right order id, another
    order's date) unsupported.
    """
    computed = day_differences(answer, entities)
    claims = [c for c in extract_claims(answer, entities) if not (c.kind == "duration" and c.value in computed)]
    if not claims:
        return None
    need = {(c.kind, c.value) for c in claims}
    need |= {(c.kind, c.value) for c in extract_claims(given, entities) if c.kind in IDENTIFIER_KINDS}
    for p in sorted(packed.evidence, key=lambda p: p.rank):
        index = ClaimIndex([p.rendered()], entities)
        if all(index.supports(Claim(kind, "", value)) for kind, value in need):
            return f"{answer.rstrip()} [{p.label}]"
    return None


def timeline(evidence: Sequence[Evidence | PackedEvidence], max_chars: int | None = None) -> str:
    """The evidence as a dated list, oldest first (undated last, by rank): a fallback that invents nothing."""
    items = sorted(evidence, key=lambda e: (e.timestamp is None, e.timestamp or "", e.rank))
    lines = []
    for e in items:
        ev = e.evidence if isinstance(e, PackedEvidence) else e
        text = ev.text if max_chars is None or len(ev.text) <= max_chars else ev.text[:max_chars].rstrip() + " ..."
        label = f"[{e.label}] " if isinstance(e, PackedEvidence) else ""
        src = f" ({ev.source})" if ev.source else ""
        lines.append(f"- {ev.timestamp or 'undated'}{src} {label}{text}")
    return "\n".join(lines)


@dataclass
class Attempt:
    """One pass: which ``context`` it used (full, top_half, cited, map_reduce), the raw answer and its check."""

    context: str
    answer: str
    verification: Verification
    evidence: list[Evidence]
    tokens: int


@dataclass
class VerifiedAnswer:
    """The final ``answer`` (the model's, or a notice plus the evidence timeline when ``fallback``), the records it
    cites, the context of the last pass, and every pass made."""

    answer: str
    verified: bool
    fallback: bool
    citations: list[Evidence]
    packed: Packed | None
    attempts: list[Attempt]
    partial: bool = False  # clauses with unsupported claims were left out (the answer says which)

    @property
    def verification(self) -> Verification:
        return self.attempts[-1].verification


def _narrower(packed: Packed, v: Verification) -> tuple[str, list[Evidence]]:
    """Only the cited records when the answer cited some but not all; otherwise the better half by priority."""
    if v.cited_labels and len(v.cited_labels) < len(packed.evidence):
        return "cited", [packed.by_label(lab).evidence for lab in v.cited_labels]
    best = sorted(packed.evidence, key=lambda p: p.rank)
    return "top_half", [p.evidence for p in best[: max(1, (len(best) + 1) // 2)]]


def supported_part(
    answer: str,
    v: Verification,
    evidence: Packed | Mapping[str, str] | Sequence[str],
    entities: EntitiesLike = (),
    *,
    given: str = "",
) -> str | None:
    """The answer without its clauses (split at ``.`` and ``;``) that hold an unsupported claim, with its citations
    and a note naming what was left out; None unless what is left holds a claim and verifies on its own."""
    if not v.unsupported or not v.cited_labels or v.unknown_labels:
        return None
    bad = {(c.kind, c.value) for c in v.unsupported}
    body = strip_citations(answer)
    clauses = [c.strip() for c in re.split(r"(?<=[.;])\s+", body) if c.strip()]

    def claims_of(clause: str) -> set[tuple[str, str]]:
        return {(c.kind, c.value) for c in _claims(clause, entities, given)}

    kept = [c for c in clauses if not claims_of(c) & bad]
    if not kept or len(kept) == len(clauses) or not any(claims_of(c) for c in kept):
        return None
    text = " ".join(kept).rstrip(";,. ") + ". " + " ".join(f"[{lab}]" for lab in v.cited_labels)
    if not verify(text, evidence, entities, given=given).verified:
        return None
    left_out = ", ".join(dict.fromkeys(c.text for c in v.unsupported))
    return f"{text}\n(Left out, not supported by the cited evidence: {left_out}.)"


def _fallback_text(v: Verification, evidence: Sequence[Evidence | PackedEvidence]) -> str:
    if v.unsupported:
        why = "these claims are not supported by the cited evidence: " + ", ".join(c.text for c in v.unsupported)
    elif not v.cited_labels:
        why = f"the answer cited no evidence ({NOT_FOUND}, or uncited)"
    else:
        why = "the answer cited evidence labels that do not exist: " + ", ".join(v.unknown_labels)
    return f"I could not verify an answer: {why}. The evidence, oldest first:\n{timeline(evidence)}"


def answer_with_verification(
    question: str,
    evidence: Sequence[Evidence],
    tokenizer: TokenizerLike,
    budget: int,
    generate: Generate,
    entities: EntitiesLike = (),
    *,
    map_reduce_overflow: bool = False,
    attribute_uncited: bool = False,
    **pack_options: object,
) -> VerifiedAnswer:
    """Pack -> generate -> verify; once more on a narrower context if unverified; else the answer's supported
    clauses with a note naming what was left out (``partial``; `supported_part`), else a timeline fallback (a
    notice naming the unsupported claims, then the first pass's evidence, oldest first).

    With ``map_reduce_overflow`` the first pass runs map-reduce when the evidence does not fit the budget. With
    ``attribute_uncited`` an answer that cites nothing is given the citation ``attribute`` finds, if any (small
    models often answer right but drop the ``[E#]``).
    ``pack_options`` go to ``pack`` (order, constraints, chronological_tiers, ...).
    """

    def run(context: str, packed: Packed) -> VerifiedAnswer | None:
        answer = correct_day_counts(generate(packed.prompt), entities)
        if attribute_uncited and not cited_labels(answer):
            answer = attribute(answer, packed, entities, given=question) or answer
        v = verify(answer, packed, entities, given=question)
        attempts.append(Attempt(context, answer, v, [p.evidence for p in packed.evidence], packed.tokens))
        if not v.verified:
            return None
        return VerifiedAnswer(
            answer, True, False, [packed.by_label(lab).evidence for lab in v.cited_labels], packed, attempts
        )

    attempts: list[Attempt] = []
    packed = first = pack(question, evidence, tokenizer, budget, **pack_options)  # type: ignore[arg-type]
    if map_reduce_overflow and packed.dropped:
        mr = map_reduce_run(question, evidence, tokenizer, budget, generate, **pack_options)
        v = verify(mr.answer, mr.label_texts, entities, given=question)
        tokens = sum(w.tokens for w in mr.windows)
        attempts.append(Attempt("map_reduce", mr.answer, v, list(mr.labels.values()), tokens))
        if v.verified:
            return VerifiedAnswer(mr.answer, True, False, [mr.labels[lab] for lab in v.cited_labels], None, attempts)
        context, narrow = "top_window", [p.evidence for p in packed.evidence]
    else:
        done = run("full", packed)
        if done:
            return done
        context, narrow = _narrower(packed, attempts[-1].verification)
    packed = pack(question, narrow, tokenizer, budget, **pack_options)  # type: ignore[arg-type]
    done = run(context, packed)
    if done:
        return done
    for a, p in ((attempts[-1], packed), (attempts[0], first)):  # the supported part of an answer, if it has one
        if len(a.evidence) == len(p.evidence):  # the attempt was made on this packing (not map-reduce windows)
            part = supported_part(a.answer, a.verification, p, entities, given=question)
            if part is not None:
                cites = [p.by_label(lab).evidence for lab in cited_labels(part)]
                return VerifiedAnswer(part, True, False, cites, p, attempts, partial=True)
    quote = quoted_answer(question, first, entities)  # the sentence the evidence gives, marked as a quote
    if quote is not None:
        return VerifiedAnswer(quote[0], False, False, [quote[1].evidence], first, attempts)
    return VerifiedAnswer(_fallback_text(attempts[-1].verification, first.evidence), False, True, [], packed, attempts)
