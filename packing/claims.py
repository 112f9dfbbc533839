"""Checkable claims in free text: dates, months, amounts, ids and codes, and named entities.

Each claim carries a normalised ``value`` so that an answer's "March 4, 2021" matches evidence's "2021-03-04",
"$1,899.00" matches "1899.00 USD" and "March 2021" matches any date in that month. Ids are any code-like token
(``4029988``, ``RMA-2021-11039``, ``HOLD-SEC``); the tenant's `Lexicon` (built from its vocabulary by the app: packing
does not import ingest) says which are orders, SKUs, codes, tracking numbers or RMAs and which names stand for which
code. Nothing here knows any tenant's formats.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
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

ISO_DATE_RE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?")
MDY_RE = re.compile(r"\b" + _MON + r"\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b", re.I)
DMY_RE = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MON + r",?\s+(\d{4})\b", re.I)
_ALPHA = re.compile(r"[a-z]+")
MONTH_YEAR_RE = re.compile(r"\b" + _MON + r",?\s+(\d{4})\b", re.I)
AMOUNT_PREFIX_RE = re.compile(r"(?:\$|\b(?:USD|EUR|GBP)\s?)" + _NUM, re.I)
AMOUNT_SUFFIX_RE = re.compile(r"\b" + _NUM + r"\s?(?:USD|EUR|GBP|dollars)\b", re.I)
# "10 days", "a 45-day window", "within 5 business days": a duration, checked like any other number
DURATION_RE = re.compile(r"(?<![\d.,-])(\d{1,4})(?:\s+|-)(?:calendar\s+|business\s+|working\s+)?days?\b", re.I)
# Evidence-side only: a bare decimal with cents ("1899.00" in a CSV value column) supports an amount claim.
BARE_AMOUNT_RE = re.compile(r"(?<![\d.])(\d+)\.(\d{2})(?![\d.])")

# a code-like token: one with a digit (``4029988``, ``#48291``, ``AP387783373XB``) or an upper-case code with a
# separator (``HOLD-SEC``, ``CUSTOMS_HOLD``); years, short numbers and citation labels are not ids
ID_TOKEN_RE = re.compile(r"(?<![\w\-#/.])#?[A-Za-z0-9]+(?:[-_/][A-Za-z0-9]+)*(?![\w\-/])")
_UPPER_CODE = re.compile(r"[A-Z][A-Z0-9]*(?:[-_][A-Z0-9]+)+")
_YEAR = re.compile(r"(?:19|20)\d{2}|\d{4}-\d{2}-\d{2}")  # a year, or a date that is not one (2021-13-40)
# "in 2023 on orders 85525, 43228 and 69922": each listed order is claimed to fall in that year
YEAR_LIST_RE = re.compile(r"\b(?:in|during)\s+((?:19|20)\d{2})\b[^.;\n]{0,40}?\borders?\s+", re.I)
_LIST_GAP = re.compile(r"\s*(?:,|and|&|,\s*and)?\s*(?:order\s+)?", re.I)

IDENTIFIER_KINDS = frozenset({"order_id", "code", "sku", "tracking", "rma", "id"})


@dataclass(frozen=True, eq=False)
class Lexicon:
    """A tenant's checkable ids and names (hashed by identity: build one per index version and keep it).

    ``ids`` maps a known value (``#48291``, ``HOLD-SEC``) to its claim kind (``order_id``, ``sku``, ``code``,
    ``tracking``, ``rma``); ``patterns`` are ``(claim kind, regex)`` for values not listed (a group named ``v`` is
    the value inside its context, e.g. ``order (?P<v>\\d{7})``); ``names`` are ``(value, names, codes)``: the
    names (any case) and codes (exact case) that all stand for one entity, claimed as ``entity`` with ``value``.
    """

    ids: Mapping[str, str] = field(default_factory=dict)
    patterns: tuple[tuple[str, re.Pattern[str]], ...] = ()
    names: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = ()
    places: frozenset[str] = frozenset()  # entity values that are places (facilities): they scope a question

    def id_kind(self, token: str) -> tuple[str, str] | None:
        """``(kind, canonical)`` of a listed id, written with or without a leading ``#``."""
        for t in (token, token.lstrip("#"), "#" + token):
            kind = self.ids.get(t)
            if kind:
                return kind, t
        return None


NO_LEXICON = Lexicon()
EntitiesLike = Lexicon | Sequence[str]


@lru_cache(maxsize=64)
def _entities_lexicon(entities: tuple[str, ...]) -> Lexicon:
    names = []
    for entry in entities:
        name, *codes = (x.strip() for x in entry.split("|"))
        if name:
            names.append((name.lower(), (name,), tuple(c for c in codes if c)))
    return Lexicon(names=tuple(names))


def as_lexicon(entities: EntitiesLike) -> Lexicon:
    """A `Lexicon` as given, or one of ``"Name|CODE"`` entity strings (names any case, codes exact)."""
    if isinstance(entities, Lexicon):
        return entities
    return _entities_lexicon(tuple(e for e in entities if e.strip())) if entities else NO_LEXICON


@dataclass(frozen=True)
class Claim:
    """One checkable fact: ``kind`` (date, month, amount, duration in days, entity, an id kind of
    `IDENTIFIER_KINDS`, order_year), the text as written and its normalised ``value`` (``2021-03-04``, ``2021-03``,
    ``1899.00``, ``9``, ``#123456``, ``#123456@2023``: an order listed under a year, supported only by one record
    naming both)."""

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


def extract_claims(text: str, entities: EntitiesLike = ()) -> list[Claim]:
    """Every claim in ``text``, in order of appearance (cached: packing and verification ask about the same
    records many times).

    Parameters
    ----------
    text
        An answer, or evidence to check answers against.
    entities
        The tenant's `Lexicon`, or ``"Name|CODE"`` strings: names are matched case-insensitively on word
        boundaries, codes exactly (``TAX`` must not match "tax"); both give the claim ``entity`` with the name.
    """
    return list(_extract(text, as_lexicon(entities)))


def _is_id(token: str) -> bool:
    bare = token.lstrip("#")
    if _UPPER_CODE.fullmatch(bare):
        return True
    if not any(ch.isdigit() for ch in bare) or _YEAR.fullmatch(bare):
        return False
    return (
        len(bare) >= 5
        or (token.startswith("#") and len(bare) >= 4)
        or any(ch.isalpha() for ch in bare)
        and len(bare) >= 4
    )


@lru_cache(maxsize=8192)
def _extract(text: str, lexicon: Lexicon) -> tuple[Claim, ...]:
    found: list[tuple[int, Claim]] = []
    taken: list[tuple[int, int]] = [m.span() for m in _CITE_RE.finditer(text)]

    def free_span(a: int, b: int) -> bool:
        return all(b <= x or a >= y for x, y in taken)

    def add_span(a: int, b: int, kind: str, value: str | None) -> None:
        if value is not None and b > a and free_span(a, b):
            taken.append((a, b))
            found.append((a, Claim(kind, text[a:b].strip(), value)))

    def add(m: re.Match[str], kind: str, value: str | None) -> None:
        add_span(m.start(), m.end(), kind, value)

    for m in ISO_DATE_RE.finditer(text):
        add(m, "date", _iso(m.group(1), int(m.group(2)), m.group(3)))
    if not MONTHS.keys().isdisjoint(_ALPHA.findall(text.lower())):  # the month patterns are slow: skip if none
        for m in MDY_RE.finditer(text):
            add(m, "date", _iso(m.group(3), MONTHS[m.group(1).lower()], m.group(2)))
        for m in DMY_RE.finditer(text):
            add(m, "date", _iso(m.group(3), MONTHS[m.group(2).lower()], m.group(1)))
        for m in MONTH_YEAR_RE.finditer(text):
            add(m, "month", f"{int(m.group(2)):04d}-{MONTHS[m.group(1).lower()]:02d}")
    for m in DURATION_RE.finditer(text):
        add(m, "duration", str(int(m.group(1))))
    for m in AMOUNT_PREFIX_RE.finditer(text):
        add(m, "amount", _amount(m.group(1), m.group(2)))
    for m in AMOUNT_SUFFIX_RE.finditer(text):
        add(m, "amount", _amount(m.group(1), m.group(2)))
    entries = sorted(
        ((value, n, False) for value, names, _ in lexicon.names for n in names) if lexicon.names else (),
        key=lambda e: -len(e[1]),
    )
    codes = {c: value for value, _, cs in lexicon.names for c in cs}
    for value, name, _ in entries:
        for m in re.finditer(r"(?<!\w)" + re.escape(name) + r"(?!\w)", text, re.I):
            add(m, "entity", value)
    for kind, rx in lexicon.patterns:
        for m in rx.finditer(text):
            a, b = m.span("v") if "v" in rx.groupindex else m.span()
            known = lexicon.id_kind(text[a:b])
            add_span(a, b, kind, known[1] if known else text[a:b])
    for m in ID_TOKEN_RE.finditer(text):
        tok = m.group(0)
        if tok in codes:
            add(m, "entity", codes[tok])
        elif _is_id(tok):
            known = lexicon.id_kind(tok)
            add(m, *(known if known else ("id", tok.upper())))
    found.sort(key=lambda t: t[0])
    orders = [(a, c) for a, c in found if c.kind == "order_id"]
    for m in YEAR_LIST_RE.finditer(text):  # overlaps the order ids on purpose: a second, relational claim
        at = m.end()
        for a, c in orders:
            if a < at:
                continue
            if not _LIST_GAP.fullmatch(text[at:a]):
                break
            found.append((a, Claim("order_year", f"{c.value} in {m.group(1)}", f"{c.value}@{m.group(1)}")))
            at = a + len(c.text)
    return tuple(c for _, c in sorted(found, key=lambda t: t[0]))


def identifiers(texts: Iterable[str], entities: EntitiesLike = ()) -> set[str]:
    """The normalised ids and codes named in ``texts`` (the hard keys of a question)."""
    return {c.value for t in texts for c in extract_claims(t, entities) if c.kind in IDENTIFIER_KINDS}


class ClaimIndex:
    """The claims of a body of evidence, for asking whether a claim is supported by it."""

    def __init__(self, texts: Iterable[str], entities: EntitiesLike = ()) -> None:
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
