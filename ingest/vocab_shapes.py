"""Value patterns generalised from example values by shape, and the check that a pattern is not too broad.

``SKX7731290042``, ``MRP4256390640`` -> ``(?:MRP|SKX)\\d{10}``; ``EX-12``, ``EX-77`` -> ``EX-\\d{2}``; digits
become ``\\d{n}`` (or ``\\d{m,n}``), letter runs stay literal when constant, become an alternation when few and a
class when many; separators stay literal. A pattern with nothing but digits is *bare* (it would match every number
of that length) and is only kept anchored to the contexts it was seen in (``#``, ``ref ``, ``order ``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

_RUN_RE = re.compile(r"\d+|[A-Z]+|[a-z]+|.", re.DOTALL)
# ordinary words and numbers: a pattern that fully matches many of these matches "everything"
SAMPLE_WORDS = (
    "the order was shipped on time and the customer called about a late parcel from our warehouse in "
    "the north we refunded it after inspection because the box arrived damaged please check again tomorrow "
    "Monday Leipzig Express Parcel Hub Note Return Refund 1 12 250 2021 3.5 OK USD A B"
).split()
MAX_ALTERNATIVES = 8


def _runs(value: str) -> list[str]:
    return _RUN_RE.findall(value)


def _skeleton(runs: list[str]) -> tuple[str, ...]:
    out = []
    for r in runs:
        if r.isdigit():
            out.append("D")
        elif r.isupper() and r.isalpha():
            out.append("U")
        elif r.islower() and r.isalpha():
            out.append("L")
        else:
            out.append("=" + r)
    return tuple(out)


def _letters(kind: str, words: list[str]) -> tuple[str, bool]:
    """Regex for one letter-run position and whether it is constant (or a closed alternation)."""
    distinct = sorted(set(words))
    if len(distinct) == 1:
        return re.escape(distinct[0]), True
    if len(distinct) <= MAX_ALTERNATIVES and len(words) >= 2 * len(distinct):
        return "(?:" + "|".join(re.escape(w) for w in distinct) + ")", True
    cls = "[A-Z]" if kind == "U" else "[a-z]"
    lo, hi = min(map(len, words)), max(map(len, words))
    return cls + _count(lo, hi), False


def _count(lo: int, hi: int) -> str:
    return "" if lo == hi == 1 else f"{{{lo}}}" if lo == hi else f"{{{lo},{hi}}}"


def generalise(values: Iterable[str], min_support: int = 3, min_share: float = 0.2) -> list[tuple[str, bool]]:
    """Patterns for the shapes that at least ``min_support`` values (and ``min_share`` of them) have.

    Returns ``(regex, bare)`` pairs; ``bare`` means nothing but digit runs, or no constant part at all.
    """
    groups: dict[tuple[str, ...], list[list[str]]] = defaultdict(list)
    vals = sorted({v.strip() for v in values if v and v.strip()})
    for v in vals:
        runs = _runs(v)
        groups[_skeleton(runs)].append(runs)
    out: list[tuple[str, bool]] = []
    for skel, members in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        if len(members) < min_support or len(members) < min_share * len(vals):
            continue
        parts, anchored = [], False
        for i, kind in enumerate(skel):
            column = [m[i] for m in members]
            if kind == "D":
                distinct = set(column)
                if len(distinct) == 1 and len(members) > 1:
                    parts.append(re.escape(column[0]))
                    anchored = True
                    continue
                lo, hi = min(map(len, column)), max(map(len, column))
                parts.append(r"\d" + _count(lo, hi))
            elif kind in ("U", "L"):
                rx, constant = _letters(kind, column)
                parts.append(rx)
                anchored = anchored or constant
            else:
                parts.append(re.escape(kind[1:]))
                anchored = True
        regex = "".join(parts)
        has_digits = "D" in skel
        out.append((regex, not (anchored and has_digits)))
    return out


def anchored(value_regex: str, contexts: Iterable[str]) -> str | None:
    """``value_regex`` required to follow one of ``contexts`` (a word in any case, or a symbol such as ``#``),
    the value in group ``v``; None when there is no context."""
    alts = set()
    for ctx in contexts:
        word = ctx.strip(" :=#")
        if word.isalpha():
            alts.add(rf"(?<![\w])(?i:{re.escape(word)})[ ]?[:#=]?[ ]?")
        elif not word and ctx.strip():
            alts.add(re.escape(ctx.strip()))
    if not alts:
        return None
    alts_sorted = sorted(alts, key=lambda a: (-len(a), a))
    return rf"(?:{'|'.join(alts_sorted)})(?P<v>{value_regex})(?![\w])"


def too_broad(regex: str, sample: Iterable[str] = SAMPLE_WORDS) -> str | None:
    """Why ``regex`` must not be used (it does not compile, matches the empty string or most ordinary words),
    or None when it is fine."""
    try:
        rx = re.compile(regex)
    except re.error as exc:
        return f"pattern {regex!r} does not compile ({exc})"
    if rx.fullmatch(""):
        return f"pattern {regex!r} matches the empty string, so it matches everything"
    words = list(sample)
    hits = sum(1 for w in words if rx.fullmatch(w) or rx.fullmatch(w.lower()))
    if hits * 4 >= len(words):
        return f"pattern {regex!r} matches {hits} of {len(words)} ordinary words: too broad"
    return None
