"""Day counts computed from the dates an answer states, not trusted to the model: "received on 2019-06-16 ... issued
on 2019-06-25; 25 - 16 = 11 days" becomes "...; 9 days". A small model copies dates well and subtracts badly."""

from __future__ import annotations

import re
from datetime import date

from packing.claims import DURATION_RE, EntitiesLike, extract_claims

_SUM_RE = re.compile(r"\b\d{1,4}\s*[-+]\s*\d{1,4}(?:\s*[-+]\s*\d{1,4})*\s*=\s*(?=\d{1,4}(?:\s+|-)days?\b)", re.I)


def _days(answer: str, entities: EntitiesLike) -> int | None:
    """Days between the two distinct full dates the answer states, or None if it states another number of them."""
    dates = sorted({c.value for c in extract_claims(answer, entities) if c.kind == "date"})
    if len(dates) != 2:
        return None
    (a, b) = (date.fromisoformat(d) for d in dates)
    return (b - a).days


def correct_day_counts(answer: str, entities: EntitiesLike = ()) -> str:
    """``answer`` with its one "N days" set to the days between its two dates (and any worked sum before it
    dropped); unchanged when it has not exactly two dates and one day count."""
    days = _days(answer, entities)
    counts = list(DURATION_RE.finditer(answer))
    if days is None or len(counts) != 1 or int(counts[0].group(1)) == days:
        return answer
    m = counts[0]
    fixed = answer[: m.start(1)] + str(days) + answer[m.end(1):]
    return _SUM_RE.sub("", fixed)


def day_differences(answer: str, entities: EntitiesLike = ()) -> set[str]:
    """The day counts the answer's own dates support (as `Claim` values of kind ``duration``)."""
    days = _days(answer, entities)
    return {str(days)} if days is not None else set()
