"""Checkable claims in free text: order ids, dates, months, amounts, exception codes, SKUs and named entities.

Each claim carries a normalised ``value`` so that an answer's "March 4, 2021" matches evidence's "2021-03-04",
"$1,899.00" matches "1899.00 USD" and "March 2021" matches any date in that month. The patterns mirror
``ingest.domain`` (packing must not import ingest).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for name in names
}
_MON = r"(" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_NUM = r"(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?"

ORDER_ID_RE = re.compile(r"#(\d{5,7})(?!\d)")
CODE_RE = re.compile(r"\bEX-\d{2}\b", re.I)
SKU_RE = re.compile(r"\bSKU-[A-Z]{2}-\d{4,6}\b", re.I)
ISO_DATE_RE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?")
MDY_RE = re.compile(r"\b" + _MON + r"\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b", re.I)
DMY_RE = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MON + r",?\s+(\d{4})\b", re.I)
_ALPHA = re.compile(r"[a-z]+")
MONTH_YEAR_RE = re.compile(r"\b" + _MON + r",?\s+(\d{4})\b", re.I)
AMOUNT_PREFIX_RE = re.compile(r"(?:\$|\b(?:USD|EUR|GBP)\s?)" + _NUM, re.I)
AMOUNT_SUFFIX_RE = re.compile(r"\b" + _NUM + r"\s?(?:USD|EUR|GBP|dollars)\b", re.I)
# Evidence-side only: a bare decimal with cents ("1899.00" in a CSV value column) supports an amount claim.
BARE_AMOUNT_RE = re.compile(r"(?<![\d.])(\d+)\.(\d{2})(?![\d.])")

# "in 2023 on orders #85525, #43228 and #69922": each listed order is claimed to fall in that year
YEAR_ORDERS_RE = re.compile(
    r"\b(?:in|during)\s+((?:19|20)\d{2})\b[^.;\n#]{0,40}?\borders?\s+(#\d{5,7}(?:\s*(?:,|and|&)\s*(?:order\s+)?#\d{5,7})*)",
    re.I,
)

IDENTIFIER_KINDS = frozenset({"order_id", "code", "sku"})


@dataclass(frozen=True)
class Claim:
    """One checkable fact: ``kind`` (order_id, date, month, amount, code, sku, entity, order_year), the text as
    written and its normalised ``value`` (``#123456``, ``2021-03-04``, ``2021-03``, ``1899.00``, ``EX-12``,
    ``#123456@2023``: an order listed under a year, supported only by one record naming both)."""

    kind: str
    text: str
    value: str


def _iso(year: str, month: int, day: str) -> str | None:
    y, d = int(year), int(day)
    if not (1 <= month <= 12 and 1 <= d <= 31):
        return None
    return f"{y:04d}-{month:02d}-{d:02d}"


def _amount(whole: str, cents: str | None) -> str | None:
    try:
        value = Decimal(whole.replace(",", "") + ("." + cents if cents else ""))
    except InvalidOperation:  # pragma: no cover - the pattern only admits digits
        return None
    return f"{value:.2f}"


def extract_claims(text: str, entities: Sequence[str] = ()) -> list[Claim]:
    """Every claim in ``text``, in order of appearance (cached: packing and verification ask about the same
    records many times).

    Parameters
    ----------
    text
        An answer, or evidence to check answers against.
    entities
        Names to recognise as claims as well (carrier names, fulfillment centers); matched case-insensitively on
        word boundaries. ``"Skyline Express|SKX"`` also reads the code ``SKX`` (case-sensitive: codes are upper
        case, and ``TAX`` must not match "tax") as the claim ``skyline express``: records name carriers by code.
    """
    return list(_extract(text, tuple(entities)))


@lru_cache(maxsize=8192)
def _extract(text: str, entities: tuple[str, ...]) -> tuple[Claim, ...]:
    found: list[tuple[int, Claim]] = []
    taken: list[tuple[int, int]] = []

    def free(m: re.Match[str]) -> bool:
        return all(m.end() <= a or m.start() >= b for a, b in taken)

    def add(m: re.Match[str], kind: str, value: str | None) -> None:
        if value is not None and free(m):
            taken.append(m.span())
            found.append((m.start(), Claim(kind, m.group(0).strip(), value)))

    for m in ISO_DATE_RE.finditer(text):
        add(m, "date", _iso(m.group(1), int(m.group(2)), m.group(3)))
    if not MONTHS.keys().isdisjoint(_ALPHA.findall(text.lower())):  # the month patterns are slow: skip if none
        for m in MDY_RE.finditer(text):
            add(m, "date", _iso(m.group(3), MONTHS[m.group(1).lower()], m.group(2)))
        for m in DMY_RE.finditer(text):
            add(m, "date", _iso(m.group(3), MONTHS[m.group(2).lower()], m.group(1)))
        for m in MONTH_YEAR_RE.finditer(text):
            add(m, "month", f"{int(m.group(2)):04d}-{MONTHS[m.group(1).lower()]:02d}")
    for m in ORDER_ID_RE.finditer(text):
        add(m, "order_id", "#" + m.group(1))
    for m in CODE_RE.finditer(text):
        add(m, "code", m.group(0).upper())
    for m in SKU_RE.finditer(text):
        add(m, "sku", m.group(0).upper())
    for m in AMOUNT_PREFIX_RE.finditer(text):
        add(m, "amount", _amount(m.group(1), m.group(2)))
    for m in AMOUNT_SUFFIX_RE.finditer(text):
        add(m, "amount", _amount(m.group(1), m.group(2)))
    for entry in sorted({e for e in entities if e.strip()}, key=len, reverse=True):
        name, *aliases = (x.strip() for x in entry.split("|"))
        for m in re.finditer(r"(?<!\w)" + re.escape(name) + r"(?!\w)", text, re.I):
            add(m, "entity", name.lower())
        for alias in filter(None, aliases):
            for m in re.finditer(r"(?<!\w)" + re.escape(alias) + r"(?!\w)", text):
                add(m, "entity", name.lower())
    for m in YEAR_ORDERS_RE.finditer(text):  # overlaps the order ids on purpose: a second, relational claim
        for o in ORDER_ID_RE.finditer(m.group(2)):
            found.append((m.start(2) + o.start(), Claim("order_year", f"#{o.group(1)} in {m.group(1)}",
                                                         f"#{o.group(1)}@{m.group(1)}")))
    return tuple(c for _, c in sorted(found, key=lambda t: t[0]))


def identifiers(texts: Iterable[str]) -> set[str]:
    """The normalised order ids, exception codes and SKUs named in ``texts`` (the hard keys of a question)."""
    return {c.value for t in texts for c in extract_claims(t) if c.kind in IDENTIFIER_KINDS}


class ClaimIndex:
    """The claims of a body of evidence, for asking whether a claim is supported by it."""

    def __init__(self, texts: Iterable[str], entities: Sequence[str] = ()) -> None:
        self.values: set[tuple[str, str]] = set()
        for t in texts:
            claims = extract_claims(t, entities)
            for c in claims:
                self.values.add((c.kind, c.value))
                if c.kind == "date":
                    self.values.add(("month", c.value[:7]))
            # an order "falls in" a year when one record names it together with a date of that year
            years = {c.value[:4] for c in claims if c.kind in ("date", "month")}
            self.values |= {("order_year", f"{c.value}@{y}") for c in claims if c.kind == "order_id" for y in years}
            for m in BARE_AMOUNT_RE.finditer(t):
                value = _amount(m.group(1), m.group(2))
                if value:
                    self.values.add(("amount", value))

    def supports(self, claim: Claim) -> bool:
        return (claim.kind, claim.value) in self.values


_CITE_RE = re.compile(r"\[\s*(E\d+(?:\s*[,;]\s*E\d+)*)\s*\]")
_LABEL_RE = re.compile(r"E\d+")


def cited_labels(answer: str) -> list[str]:
    """The evidence labels an answer cites (``[E2]``, ``[E1, E3]``), in order of first citation."""
    out: list[str] = []
    for m in _CITE_RE.finditer(answer):
        for label in _LABEL_RE.findall(m.group(1)):
            if label not in out:
                out.append(label)
    return out


def strip_citations(answer: str) -> str:
    """``answer`` without its ``[E#]`` citations."""
    return _CITE_RE.sub("", answer).strip()


def relabel(answer: str, mapping: dict[str, str]) -> str:
    """Rewrite the cited labels of ``answer`` through ``mapping`` (labels not in it are kept)."""

    def sub(m: re.Match[str]) -> str:
        return "[" + _LABEL_RE.sub(lambda x: mapping.get(x.group(0), x.group(0)), m.group(1)) + "]"

    return _CITE_RE.sub(sub, answer)
