"""Prompt segments: spans of the prompt that a record-aware KV policy (engine/kv/records.py) keeps or drops whole.

A caller that built the prompt (longhaul's packer, or anyone) names its parts: ``record`` spans (evidence the
policy may drop, whole) and ``question`` / ``instructions`` spans (always kept). Tokens in no span (chat template,
separators) are kept too. Spans are half-open ``[start, end)``: characters of a text prompt, which the engine maps
to tokens with the tokenizer's offsets (`to_token_segments`), or tokens of a prompt given as ids. The engine knows
nothing of how a prompt was rendered: only these spans.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

SEGMENT_KINDS: dict[str, str] = {
    "record": "evidence the policy may drop, whole",
    "question": "the question (always kept)",
    "instructions": "system prompt and answer instructions (always kept)",
}


@dataclass(frozen=True)
class Segment:
    """One span ``[start, end)`` of the prompt and what it is (one of `SEGMENT_KINDS`)."""

    start: int
    end: int
    kind: str = "record"

    def __post_init__(self) -> None:
        if self.kind not in SEGMENT_KINDS:
            raise ValueError(f"unknown segment kind {self.kind!r}: choose one of {', '.join(SEGMENT_KINDS)}")

    def __len__(self) -> int:
        return self.end - self.start

    @property
    def kept(self) -> bool:
        """Whether a record-aware policy always keeps this span."""
        return self.kind != "record"


def check_segments(segments: Sequence[Segment], length: int, unit: str = "tokens") -> list[Segment]:
    """``segments`` sorted by start, after checking that each is non-empty, inside ``[0, length)`` and that no two
    overlap; a ``ValueError`` naming the offending spans otherwise (``unit`` words the message)."""
    for s in segments:
        if not isinstance(s, Segment):
            raise TypeError(f"segments must be engine.kv.Segment spans, got {type(s).__name__}")
        if s.start < 0 or s.end > length or s.start >= s.end:
            raise ValueError(f"segment [{s.start}, {s.end}) ({s.kind}) must be a non-empty span inside the prompt's "
                             f"{length} {unit}")
    ordered = sorted(segments, key=lambda s: (s.start, s.end))
    for a, b in zip(ordered, ordered[1:], strict=False):
        if b.start < a.end:
            raise ValueError(f"segments [{a.start}, {a.end}) ({a.kind}) and [{b.start}, {b.end}) ({b.kind}) overlap: "
                             "each prompt position belongs to at most one segment")
    return ordered


def to_token_segments(segments: Sequence[Segment], offsets: Sequence[tuple[int, int]],
                      text_length: int) -> list[Segment]:
    """Character spans of a text -> token spans, given each token's character ``offsets`` (start, end).

    A token belongs to the span holding its first character, so disjoint character spans give disjoint token
    spans; a span that holds no token's first character is dropped. The character spans are checked first.
    """
    ordered = check_segments(segments, text_length, "characters")
    starts = [a for a, _ in offsets]
    if any(b < a for a, b in zip(starts, starts[1:], strict=False)):
        raise ValueError("token offsets must be in text order")
    out = []
    for s in ordered:
        lo, hi = bisect_left(starts, s.start), bisect_left(starts, s.end)
        if hi > lo:
            out.append(Segment(lo, hi, s.kind))
    return out


def kept_positions(segments: Sequence[Segment], length: int) -> int:
    """Tokens of a ``length``-token prompt that a record-aware policy always keeps: all but the records'."""
    return length - sum(len(s) for s in segments if not s.kept)
