"""Query analysis: the keys a question names (orders, FCs and carriers incl. synonyms, dates, codes)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field

from ingest.domain import CARRIERS, EXCEPTION_CODES, EXCEPTION_RE, FULFILLMENT_CENTERS, SKU_RE

ORDER_RE = re.compile(r"(?:#|\border\s+(?:no\.?\s*|number\s+)?#?)(\d{5,7})\b", re.IGNORECASE)
ISO_DATE_RE = re.compile(r"\b(20\d{2})-(\d{2})-(\d{2})\b")
MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m} | {
    m.lower(): i for i, m in enumerate(calendar.month_abbr) if m
}
MONTH_YEAR_RE = re.compile(r"\b(" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?\s+(20\d{2})\b", re.I)
YEAR_RE = re.compile(r"\b(?:in|during|of|for)\s+(20\d{2})\b", re.IGNORECASE)
QUARTER_RE = re.compile(r"\bQ([1-4])\s+(20\d{2})\b", re.IGNORECASE)


def _phrases(names: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"\b(" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) + r")\b", re.I)


_FC_NAMES = {n.lower(): fc.code for fc in FULFILLMENT_CENTERS for n in (fc.code, fc.city, *fc.synonyms)}
_CARRIER_NAMES = {n.lower(): c.code for c in CARRIERS for n in (c.code, c.name, *c.synonyms)}
_EXC_NAMES = {e.name.lower().replace("_", " "): e.code for e in EXCEPTION_CODES}
FC_RE = _phrases(tuple(_FC_NAMES))
CARRIER_RE = _phrases(tuple(_CARRIER_NAMES))
EXC_NAME_RE = _phrases(tuple(_EXC_NAMES))


@dataclass
class QueryAnalysis:
    """What `analyze` found. ``date_from``/``date_to`` are inclusive ISO dates; lists are unique, in order."""

    text: str
    order_ids: list[str] = field(default_factory=list)
    fcs: list[str] = field(default_factory=list)
    carriers: list[str] = field(default_factory=list)
    skus: list[str] = field(default_factory=list)
    exception_codes: list[str] = field(default_factory=list)
    date_from: str | None = None
    date_to: str | None = None

    @property
    def expanded_text(self) -> str:
        """The query plus the canonical codes of what it names by synonym (``the Leipzig warehouse`` -> LEJ1)."""
        extra = [*self.fcs, *self.carriers, *self.exception_codes]
        return " ".join([self.text, *extra])

    @property
    def boosts(self) -> dict[str, list[str]]:
        """Exact keys worth a bonus in keyword search: order ids, SKUs and exception codes."""
        return {"order_ids": self.order_ids, "skus": self.skus, "exception_codes": self.exception_codes}


def _uniq(xs: list[str]) -> list[str]:
    return list(dict.fromkeys(xs))


def analyze(query: str) -> QueryAnalysis:
    """Extract the keys of ``query``; never raises for free text."""
    a = QueryAnalysis(query)
    a.order_ids = _uniq([f"#{m.group(1)}" for m in ORDER_RE.finditer(query)])
    a.fcs = _uniq([_FC_NAMES[m.group(1).lower()] for m in FC_RE.finditer(query)])
    a.carriers = _uniq([_CARRIER_NAMES[m.group(1).lower()] for m in CARRIER_RE.finditer(query)])
    a.skus = _uniq([m.group(0) for m in SKU_RE.finditer(query)])
    a.exception_codes = _uniq(
        EXCEPTION_RE.findall(query) + [_EXC_NAMES[m.group(1).lower()] for m in EXC_NAME_RE.finditer(query)]
    )
    starts: list[str] = []
    ends: list[str] = []
    for y, m, d in ISO_DATE_RE.findall(query):
        starts.append(f"{y}-{m}-{d}")
        ends.append(f"{y}-{m}-{d}")
    for mon, y in MONTH_YEAR_RE.findall(query):
        mi = MONTHS[mon.lower()]
        starts.append(f"{y}-{mi:02d}-01")
        ends.append(f"{y}-{mi:02d}-{calendar.monthrange(int(y), mi)[1]:02d}")
    for q, y in QUARTER_RE.findall(query):
        m0 = 3 * (int(q) - 1) + 1
        starts.append(f"{y}-{m0:02d}-01")
        ends.append(f"{y}-{m0 + 2:02d}-{calendar.monthrange(int(y), m0 + 2)[1]:02d}")
    if not starts:
        for y in YEAR_RE.findall(query):
            starts.append(f"{y}-01-01")
            ends.append(f"{y}-12-31")
    if starts:
        a.date_from, a.date_to = min(starts), max(ends)
    return a
