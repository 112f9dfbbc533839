"""A question planned into parts: each part is answered on its own pass, then the answers are composed.

A part is a ``lookup`` (retrieve, pack, let the model answer), or a ``list``, ``count`` or ``exists`` question that
`packing.facts` answers from the records ("Which orders ...", "How many shipments ...", "did the same pattern
appear for ... returns in 2023?"). A part that says "the same carrier pattern" takes those keys (the carrier, the
code) from the previous part's answer. Only English question words are known here; nothing of any tenant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# what a list or count is of: the vocabulary kind behind each English noun ("shipment": tracking numbers)
TARGETS: dict[str, str] = {
    "orders": "order", "order": "order", "returns": "order", "refunds": "order", "purchases": "order",
    "shipments": "shipment", "shipment": "shipment", "parcels": "shipment", "packages": "shipment",
    "codes": "code", "code": "code", "exceptions": "code", "exception codes": "code", "event codes": "code",
    "carriers": "carrier", "carrier": "carrier", "couriers": "carrier",
    "skus": "sku", "items": "sku", "products": "sku",
    "warehouses": "facility", "facilities": "facility", "sites": "facility", "hubs": "facility",
    "rmas": "rma",
}
_TARGET_ALT = "|".join(re.escape(t) for t in sorted(TARGETS, key=len, reverse=True))
# up to four modifiers before the noun ("which high-value electronics orders"), never "of", "in" or a verb:
# "which version of the returns policy" is not a list of returns
_MOD = r"(?:(?!(?:of|in|on|for|with|to|from|by|was|were|is|are|did|does|do|has|have|had)\b)[\w-]+\s+){0,4}?"
# the noun is the first target noun, or the last of a run of them ("Quillrun Couriers shipments": shipments)
LIST_RE = re.compile(rf"^\s*(?:which|what)\s+{_MOD}(?:(?:{_TARGET_ALT})\s+)*({_TARGET_ALT})\b", re.I)
COUNT_RE = re.compile(rf"^\s*how\s+many\s+{_MOD}(?:(?:{_TARGET_ALT})\s+)*({_TARGET_ALT})\b", re.I)
EXISTS_RE = re.compile(rf"^\s*(?:did|does|do|has|have|was|were|is|are)\b.*?\b(?:appear|appeared|recur|recurred|"
                       rf"happen|happened|occur|occurred|repeat|repeated)\b.*?\b({_TARGET_ALT})\b", re.I)
SPLIT_RE = re.compile(r"(?:,\s*|;\s*|\?\s+)(?:and\s+)?(?=(?:did|does|do|was|were|is|are|has|have|how|which|what|"
                      r"when|why|where|who)\b)", re.I)
SAME_RE = re.compile(r"\b(?:same|similar|that|this|those|these)\b\s+((?:[\w-]+\s+){0,2}"
                     r"(?:pattern|carrier|code|exception|issue|problem|warehouse|facility|site))\b", re.I)
# the kinds a "same ..." phrase carries over from the previous answer
INHERIT_WORDS: dict[str, tuple[str, ...]] = {
    "carrier": ("carrier",), "pattern": ("code",), "code": ("code",), "exception": ("code",), "issue": ("code",),
    "problem": ("code",), "warehouse": ("facility",), "facility": ("facility",), "site": ("facility",),
}
_SENTENCE = re.compile(r"(?<=[.!])\s+(?=[A-Z])")
# "Orders A, B and C were late. Which two were held up by the same problem?": the named orders grouped by code
SAME_AMONG_RE = re.compile(r"\b(?:which|what)\s+(?:two|three|ones?|of\s+(?:them|these|those)|orders?)\b.*?"
                           r"\bsame\s+(?:problem|issue|code|exception|reason|delay|hold|cause)\b", re.I)
HIGH_VALUE_RE = re.compile(r"\b(?:high[- ]value|expensive|high[- ]priced|costly|big[- ]ticket)\b", re.I)


@dataclass(frozen=True)
class Part:
    """One part of a question. ``kind``: lookup, list, count, exists, or same (which of the named orders share a
    code); ``target``: the vocabulary kind listed
    (``shipment`` for tracking numbers), None for a lookup; ``inherits``: kinds taken from the previous answer;
    ``high_value``: the part asks for high-value records."""

    text: str
    kind: str = "lookup"
    target: str | None = None
    inherits: tuple[str, ...] = ()
    high_value: bool = False

    def describe(self) -> str:
        what = self.kind if self.target is None else f"{self.kind} of {self.target}s"
        same = f", taking {' and '.join(self.inherits)} from the previous answer" if self.inherits else ""
        return f"{what}{same}: {self.text}"


def _as_question(text: str) -> str:
    text = text.strip().rstrip("?.").strip()
    return text[:1].upper() + text[1:] + "?"


def part_of(text: str, first: bool = True) -> Part:
    """Classify one clause of a question."""
    q = _as_question(text)
    inherits: tuple[str, ...] = ()
    if not first:
        for same in SAME_RE.finditer(q):
            words = same.group(1).lower().split()
            inherits += tuple(k for w in words for k in INHERIT_WORDS.get(w, ()) if k not in inherits)
    high = bool(HIGH_VALUE_RE.search(q))
    if SAME_AMONG_RE.search(q):
        return Part(q, "same", "code", inherits, False)
    asked = _SENTENCE.split(q)[-1]  # "A customer bought X. Which order was that?": the question is the last sentence,
    for kind, rx in (("count", COUNT_RE), ("list", LIST_RE), ("exists", EXISTS_RE)):  # the rest its context
        m = rx.search(asked)
        if m:
            return Part(q, kind, TARGETS[m.group(1).lower()], inherits, high)
    return Part(q, "lookup", None, inherits, high)


def plan(question: str) -> list[Part]:
    """The parts of ``question`` in order. A question is split only where a later clause is a list, count or
    exists question (the records answer it); clauses that are all lookups stay one part, so "..., and what
    window did it set?" keeps what "it" refers to."""
    clauses = [c for c in SPLIT_RE.split(question.strip()) if c and c.strip(" ,;?")]
    parts = [part_of(c, i == 0) for i, c in enumerate(clauses)]
    if len(parts) > 1 and all(p.kind == "lookup" for p in parts[1:]):
        return [part_of(question)]
    return parts or [Part(_as_question(question))]
