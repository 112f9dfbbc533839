""""Did the same happen elsewhere?": a question that names an order (or another id) and asks whether the same or a
similar thing happened in another period gets the records of that period that share the named records' pattern.

The pattern is the rarest exception code the named records carry (what went wrong, not a routine event) and the
carriers of the records that carry it; the other period is each date span of the question that none
of the named records falls in. The matching records come with the records they link to (a held return scan with its
return authorisation), so the comparison is seen whole. Nothing here knows a tenant's codes: they come from the
chunks' metadata, learned at ingest.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from ingest.records import Chunk

SAME_WORDS = re.compile(r"\b(same|similar|likewise|again|other orders?)\b", re.IGNORECASE)
PATTERN_KEYS = ("carriers",)  # who raised the code is part of the pattern; where it happened is not


def _day(chunk: Chunk) -> str | None:
    ts = chunk.metadata.get("timestamp")
    return str(ts)[:10] if ts and str(ts)[:1].isdigit() else None


def pattern_filters(
    text: str,
    spans: Sequence[tuple[str, str]],
    records: Sequence[int],
    chunks: Sequence[Chunk],
    code_chunks: Counter[str],
) -> list[dict[str, Any]]:
    """Filters for the records of the question's other periods that share its named records' pattern; none when
    the question does not ask for the same or similar, names no other period, or its records carry no code."""
    if not records or not spans or not SAME_WORDS.search(text):
        return []
    days = [d for d in (_day(chunks[r]) for r in records) if d]
    others = [(lo, hi) for lo, hi in spans if not any(lo <= d <= hi for d in days)]
    codes = {x for r in records for x in chunks[r].metadata.get("exception_codes") or ()}
    if not others or not codes:
        return []
    rarest = min(codes, key=lambda x: (code_chunks[x], x))
    carrying = [chunks[r].metadata for r in records if rarest in (chunks[r].metadata.get("exception_codes") or ())]
    base: dict[str, Any] = {"exception_codes": [rarest]}
    for key in PATTERN_KEYS:
        values = sorted({v for m in carrying for v in m.get(key) or ()})
        if values:
            base[key] = values
    return [{**base, "date_from": lo, "date_to": hi} for lo, hi in others]


def with_linked(
    rows: Sequence[int], linked_rows: Callable[[int], Sequence[int]], plain: Sequence[tuple[int, float]] = ()
) -> list[list[tuple[int, float]]]:
    """``rows``, each with the rows it links to (one event seen from several files), as rankings by position in
    the group: the first ranks the matched rows, the second their first linked row, ...; so every row of a group
    ranks where its group does. Groups are ordered by the best ``plain`` rank (the question's own words and
    meaning) of any of their rows, else kept in order."""
    rank = {row: i for i, (row, _) in reversed(list(enumerate(plain)))}
    groups: list[list[int]] = []
    seen: set[int] = set()
    for row in rows:
        group = [r for r in dict.fromkeys((row, *linked_rows(row))) if r not in seen]
        seen.update(group)
        if group:
            groups.append(group)
    groups.sort(key=lambda g: min(rank.get(r, len(rank)) for r in g))
    width = max((len(g) for g in groups), default=0)
    return [[(g[j], 1.0 / (i + 1)) for i, g in enumerate(groups) if j < len(g)] for j in range(width)]
