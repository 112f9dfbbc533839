"""Lists and counts computed from the records, not guessed by the model.

`FactTable.build` reads every indexed record once, line by line: each line that names something of the tenant's
vocabulary is an `Event` (its date, and the ids, codes and names it mentions, by kind). Ids that a line names
beside exactly one order (a manifest row's tracking number, an RMA's order) become that order's, so a scan that
names only a tracking number still counts for its order; the order's own attributes (its carrier and facility,
the columns of its table rows such as a category or a declared value) come from the lines that name it alone.

`FactTable.select(Filter, target)` returns the distinct values of the ``target`` kind over the matching events,
each with the records that support it: the list is complete against the filter by construction, and every item
is cited. packing/ does not import ingest: the app passes a ``mentions(text) -> [(kind, canonical)]`` function
built from the tenant's vocabulary.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

Mentions = Callable[[str], Iterable[tuple[str, str]]]
ISO_DAY_RE = re.compile(r"\b((?:19|20)\d{2})-(\d{2})-(\d{2})")
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                        "dec"), 1)}
_MON = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
MDY_RE = re.compile(rf"\b{_MON}\s+(\d{{1,2}}),?\s+((?:19|20)\d{{2}})\b", re.I)
DMY_RE = re.compile(rf"\b(\d{{1,2}})\s+{_MON},?\s+((?:19|20)\d{{2}})\b", re.I)
ENTITY_KINDS = ("carrier", "facility", "sku")  # an order's attributes: its manifest row names them
_KV_LINE = re.compile(r"^\s*([A-Za-z][\w ]{0,40}):\s+(.+?)\s*$")


class RecordLike(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def source(self) -> str: ...

    @property
    def text(self) -> str: ...


@dataclass
class Event:
    """One line of one record that names something: ``mentions`` maps a kind to the canonical values named."""

    record_id: str
    source: str
    line: str
    day: str | None
    mentions: dict[str, set[str]]
    fields: dict[str, str] = field(default_factory=dict)  # a table row's columns, or a record's ``key: value``s


@dataclass(frozen=True)
class Filter:
    """What a list or count is over: every key must hold (``keys``: kind -> accepted values, any of them), the
    event's day inside ``date_from``..``date_to`` (ISO, inclusive), the order's columns equal to ``fields``
    (case-insensitive) and at least ``minimums`` (numbers)."""

    keys: Mapping[str, frozenset[str]] = field(default_factory=dict)
    date_from: str | None = None
    date_to: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    minimums: Mapping[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        parts = [f"{k} {' or '.join(sorted(v))}" for k, v in sorted(self.keys.items())]
        if self.date_from or self.date_to:
            parts.append(f"dated {self.date_from or '...'} to {self.date_to or '...'}")
        parts += [f"{c} = {v}" for c, v in sorted(self.fields.items())]
        parts += [f"{c} >= {v:,.2f}" for c, v in sorted(self.minimums.items())]
        return "; ".join(parts) or "no filter"


@dataclass
class Selection:
    """The distinct ``target`` values the filter selects, each with its supporting events (oldest first)."""

    target: str
    filter: Filter
    items: dict[str, list[Event]]

    @property
    def count(self) -> int:
        return len(self.items)

    def record_ids(self) -> list[str]:
        return list(dict.fromkeys(e.record_id for evs in self.items.values() for e in evs))


def _rows(text: str) -> list[tuple[str, dict[str, str]]]:
    """A table chunk's rows (header line + rows) as (line, {column: value}); empty for other text."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) < 2 or "," not in lines[0]:
        return []
    header = next(csv.reader([lines[0]]))
    out = []
    for ln in lines[1:]:
        values = next(csv.reader(io.StringIO(ln)), [])
        if len(values) == len(header):
            out.append((ln, {h.strip(): v.strip() for h, v in zip(header, values, strict=True)}))
    return out


def day_of(line: str) -> str | None:
    """The first date a line gives, as ISO: ``2021-03-04``, ``Mar 4 2021`` or ``4 March 2021``."""
    found = []
    if m := ISO_DAY_RE.search(line):
        found.append((m.start(), "-".join(m.groups())))
    if m := MDY_RE.search(line):
        found.append((m.start(), f"{m.group(3)}-{_MONTHS[m.group(1).lower()[:3]]:02d}-{int(m.group(2)):02d}"))
    if m := DMY_RE.search(line):
        found.append((m.start(), f"{m.group(3)}-{_MONTHS[m.group(2).lower()[:3]]:02d}-{int(m.group(1)):02d}"))
    return min(found)[1] if found else None


def _number(value: str) -> float | None:
    try:
        return float(value.replace(",", "").lstrip("$"))
    except ValueError:
        return None


class FactTable:
    """Events of one index version, with each order's linked ids and attributes. Build once per version."""

    def __init__(self, events: list[Event]) -> None:
        self.events = events
        self.owner: dict[tuple[str, str], str] = {}  # (kind, id) -> the one order it belongs to
        self.attributes: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self.columns: dict[str, dict[str, str]] = defaultdict(dict)  # order -> column -> value
        self._spread: dict[str, set[str]] | None = None
        self._n_orders: int | None = None
        for e in events:
            orders = e.mentions.get("order", set())
            if len(orders) != 1:
                continue
            (order,) = orders
            for kind, values in e.mentions.items():
                if kind in ("tracking", "rma"):
                    for v in values:
                        self.owner.setdefault((kind, v), order)
                if kind in ENTITY_KINDS:
                    self.attributes[order][kind] |= values
            for column, value in e.fields.items():
                self.columns[order].setdefault(column.lower(), value)

    @classmethod
    def build(cls, records: Iterable[RecordLike], mentions: Mentions) -> FactTable:
        events: list[Event] = []
        for r in records:
            rows = _rows(r.text) if r.source.split(":")[0].endswith(".csv") else []
            kv = {m.group(1).strip(): m.group(2) for ln in r.text.splitlines() if (m := _KV_LINE.match(ln))}
            # a table's rows, a structured record (``key: value`` lines) as one unit, else each line
            units = rows or ([(r.text, kv)] if len(kv) >= 2 else [(ln, kv) for ln in r.text.splitlines() if ln.strip()])
            for line, fields in units:
                named: dict[str, set[str]] = defaultdict(set)
                for kind, canonical in mentions(line):
                    named[kind].add(canonical)
                if named:
                    events.append(Event(r.id, r.source, line, day_of(line), dict(named), dict(fields)))
        return cls(events)

    def code_spread(self) -> dict[str, set[str]]:
        """Each code -> the orders whose events carry it (a status every order has spreads wide; an exception
        does not)."""
        if self._spread is None:
            spread: dict[str, set[str]] = defaultdict(set)
            for e in self.events:
                for c in e.mentions.get("code", ()):
                    spread[c] |= self.orders_of(e)
            self._spread = dict(spread)
        return self._spread

    def order_count(self) -> int:
        """How many distinct orders the events are about (computed once)."""
        if self._n_orders is None:
            self._n_orders = len({o for e in self.events for o in self.orders_of(e)})
        return self._n_orders

    def orders_of(self, e: Event) -> set[str]:
        """The orders an event is about: those it names, else the owners of the ids it names."""
        named = e.mentions.get("order", set())
        if named:
            return set(named)
        return {o for kind in ("tracking", "rma") for v in e.mentions.get(kind, ()) if (o := self.owner.get((kind, v)))}

    def _holds(self, e: Event, orders: set[str], kind: str, accepted: frozenset[str]) -> bool:
        if kind == "order":
            return bool(orders & accepted)
        if kind in ENTITY_KINDS and orders and any(self.attributes[o].get(kind) for o in orders):
            return any(self.attributes[o].get(kind, set()) & accepted for o in orders)  # the order's own
        return bool(e.mentions.get(kind, set()) & accepted)

    def _columns_hold(self, orders: set[str], f: Filter) -> bool:
        for o in orders:
            cols = self.columns.get(o, {})
            if all(cols.get(c.lower(), "").lower() == v.lower() for c, v in f.fields.items()) and all(
                    (n := _number(cols.get(c.lower(), ""))) is not None and n >= lo for c, lo in f.minimums.items()):
                return True
        return False

    def select(self, f: Filter, target: str) -> Selection:
        """Distinct values of ``target`` (a vocabulary kind; ``order`` follows links) over the matching events."""
        items: dict[str, list[Event]] = defaultdict(list)
        for e in self.events:
            if f.date_from and (not e.day or e.day < f.date_from):
                continue
            if f.date_to and (not e.day or e.day > f.date_to):
                continue
            orders = self.orders_of(e)
            if not all(self._holds(e, orders, k, v) for k, v in f.keys.items()):
                continue
            if (f.fields or f.minimums) and not self._columns_hold(orders, f):
                continue
            values = orders if target == "order" else e.mentions.get(target, set())
            for v in values:
                items[v].append(e)
        ordered = sorted(items.items(), key=lambda kv: (min(e.day or "" for e in kv[1]), kv[0]))
        return Selection(target, f, {k: sorted(v, key=lambda e: e.day or "") for k, v in ordered})

    # ---- what a question can filter on, learned from the table itself ----------------------------------------
    def categorical_values(self, max_distinct: int = 40) -> dict[str, str]:
        """Lower-cased value -> column, for text columns with few distinct values (a category, a status)."""
        seen: dict[str, set[str]] = defaultdict(set)
        for cols in self.columns.values():
            for c, v in cols.items():
                if v and _number(v) is None and not any(ch.isdigit() for ch in v):
                    seen[c].add(v.lower())
        return {v: c for c, vs in seen.items() if 1 < len(vs) <= max_distinct for v in vs}

    def numeric_columns(self) -> dict[str, list[float]]:
        values: dict[str, list[float]] = defaultdict(list)
        for cols in self.columns.values():
            for c, v in cols.items():
                n = _number(v)
                if n is not None and "." in v:  # amounts carry cents; counts and ids do not
                    values[c].append(n)
        return dict(values)


def quantile(values: Sequence[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]
