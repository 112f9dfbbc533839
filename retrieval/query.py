"""Query analysis: the keys a question names, in the tenant's own vocabulary, and the dates it speaks of.

The ids, codes and names come from the vocabulary the index version was built with (`ingest.vocab_model`):
``the Phoenix site`` -> the tenant's facility code, ``Atlas Post`` -> its carrier code, ``order 4029988`` or
``#48291`` -> an order id in whatever form the tenant writes it. Nothing here knows any tenant's names.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field

from ingest.vocab_model import KIND_KEYS, Vocabulary

ISO_DATE_RE = re.compile(r"\b(20\d{2})-(\d{2})-(\d{2})\b")
MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m} | {
    m.lower(): i for i, m in enumerate(calendar.month_abbr) if m
}
_MONTH_ALT = "|".join(sorted(MONTHS, key=len, reverse=True))
DAY_MONTH_YEAR_RE = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH_ALT})\.?,?\s+(20\d{{2}})\b", re.I)
MONTH_DAY_YEAR_RE = re.compile(rf"\b({_MONTH_ALT})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(20\d{{2}})\b", re.I)
MONTH_YEAR_RE = re.compile(rf"\b({_MONTH_ALT})\.?\s+(20\d{{2}})\b", re.I)
YEAR_RE = re.compile(r"\b(?:in|during|of|for|since)\s+(20\d{2})\b", re.IGNORECASE)
QUARTER_RE = re.compile(r"\bQ([1-4])\s+(20\d{2})\b", re.IGNORECASE)
BOOST_KEYS = ("order_ids", "skus", "exception_codes", "tracking_numbers", "rma_ids")


@dataclass
class QueryAnalysis:
    """What `analyze` found. ``keys`` maps a metadata list (``order_ids``, ``fcs``, ``carriers``, ...; see
    `ingest.metadata.KIND_KEYS`) to the canonical values the query names; ``date_from``/``date_to`` are inclusive
    ISO dates."""

    text: str
    keys: dict[str, list[str]] = field(default_factory=dict)
    synonyms: dict[str, str] = field(default_factory=dict)  # surface in the query -> canonical value
    date_from: str | None = None
    date_to: str | None = None
    spans: list[tuple[str, str]] = field(default_factory=list)  # every span it names (`date_spans`)

    def key(self, name: str) -> list[str]:
        return self.keys.get(name, [])

    @property
    def order_ids(self) -> list[str]:
        return self.key("order_ids")

    @property
    def skus(self) -> list[str]:
        return self.key("skus")

    @property
    def fcs(self) -> list[str]:
        return self.key("fcs")

    @property
    def carriers(self) -> list[str]:
        return self.key("carriers")

    @property
    def exception_codes(self) -> list[str]:
        return self.key("exception_codes")

    @property
    def expanded_text(self) -> str:
        """The query plus the canonical codes of what it names by name (``the Leipzig warehouse`` -> its code)."""
        extra = [c for s, c in self.synonyms.items() if s != c]
        return " ".join([self.text, *dict.fromkeys(extra)])

    @property
    def boosts(self) -> dict[str, list[str]]:
        """Exact keys worth a bonus in keyword search: the ids and codes the query names."""
        return {k: self.key(k) for k in BOOST_KEYS if self.key(k)}


def _day_range(y: str, mi: int, d: int) -> tuple[str, str] | None:
    if not 1 <= d <= calendar.monthrange(int(y), mi)[1]:
        return None
    day = f"{y}-{mi:02d}-{d:02d}"
    return day, day


def _spans(query: str) -> list[tuple[str, str]]:
    """Days, months and quarters the query names, as inclusive ISO spans."""
    spans = [(f"{y}-{m}-{d}", f"{y}-{m}-{d}") for y, m, d in ISO_DATE_RE.findall(query)]
    taken: list[tuple[int, int]] = []
    for m in DAY_MONTH_YEAR_RE.finditer(query):
        span = _day_range(m.group(3), MONTHS[m.group(2).lower()], int(m.group(1)))
        if span:
            spans.append(span)
            taken.append(m.span())
    for m in MONTH_DAY_YEAR_RE.finditer(query):
        span = _day_range(m.group(3), MONTHS[m.group(1).lower()], int(m.group(2)))
        if span:
            spans.append(span)
            taken.append(m.span())
    for m in MONTH_YEAR_RE.finditer(query):
        if any(a <= m.start() < b for a, b in taken):
            continue
        y, mi = m.group(2), MONTHS[m.group(1).lower()]
        spans.append((f"{y}-{mi:02d}-01", f"{y}-{mi:02d}-{calendar.monthrange(int(y), mi)[1]:02d}"))
    for q, y in QUARTER_RE.findall(query):
        m0 = 3 * (int(q) - 1) + 1
        spans.append((f"{y}-{m0:02d}-01", f"{y}-{m0 + 2:02d}-{calendar.monthrange(int(y), m0 + 2)[1]:02d}"))
    return spans


def date_spans(query: str) -> list[tuple[str, str]]:
    """Every inclusive ISO span the query names: days, months, quarters, then each year it names (``in 2023``)
    that none of those lies in ("in March 2021 ... and in 2023" is two spans)."""
    spans = _spans(query)
    years = [(f"{y}-01-01", f"{y}-12-31") for y in YEAR_RE.findall(query)]
    return spans + [y for y in years if not any(y[0] <= s <= y[1] for s, _ in spans)]


def date_range(query: str) -> tuple[str | None, str | None]:
    """The inclusive ISO date range the query speaks of: days, months, quarters, else whole years."""
    spans = _spans(query) or [(f"{y}-01-01", f"{y}-12-31") for y in YEAR_RE.findall(query)]
    if not spans:
        return None, None
    return min(s for s, _ in spans), max(e for _, e in spans)


def analyze(query: str, vocab: Vocabulary | None = None) -> QueryAnalysis:
    """Extract the keys of ``query`` with the tenant's ``vocab`` (without one: dates only); never raises."""
    a = QueryAnalysis(query)
    for m in (vocab or Vocabulary()).mentions(query):
        key = KIND_KEYS[m.kind]
        values = a.keys.setdefault(key, [])
        if m.canonical not in values:
            values.append(m.canonical)
        a.synonyms[m.surface] = m.canonical
    a.date_from, a.date_to = date_range(query)
    a.spans = date_spans(query)
    return a
