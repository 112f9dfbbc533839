"""Vocabulary from tables: reference tables (a code column and a name column) and structured fields (CSV
columns and JSONL ``metadata`` keys whose names say the kind)."""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field

from ingest.vocab_model import CODE_TOKEN_RE, Term, Vocabulary

# header word -> kind, first rule that matches wins ("return_tracking" is a tracking number)
HEADER_RULES: tuple[tuple[str, frozenset[str]], ...] = (
    ("tracking", frozenset({"tracking", "awb", "trackingnumber", "tracking_no"})),
    ("rma", frozenset({"rma", "return", "returns"})),
    ("order", frozenset({"order", "orders"})),
    ("sku", frozenset({"sku", "item", "article", "product"})),
    ("facility", frozenset({"facility", "warehouse", "site", "fc", "dc", "depot", "hub"})),
    ("carrier", frozenset({"carrier", "courier"})),
    ("policy", frozenset({"policy"})),
    ("code", frozenset({"code", "exception", "event", "status"})),
    ("person", frozenset({"customer", "agent", "person", "employee", "contact", "assignee"})),
)
# a column about a date, an amount or a reason is not an id column ("order_date", "return_reason")
NOT_ID_WORDS = frozenset(
    {"date", "time", "timestamp", "day", "month", "year", "amount", "value", "qty", "quantity", "count", "total"}
    | {"price", "weight", "usd", "eur", "reason", "note", "notes", "comment", "text", "description", "type"}
)
REFERENCE_WORDS = frozenset(
    {"code", "name", "label", "description", "meaning", "city", "alias", "aliases", "synonyms", "abbr", "title"}
)
ALIAS_WORDS = frozenset({"alias", "aliases", "synonyms", "aka"})
ID_KINDS = frozenset({"order", "sku", "tracking", "rma"})
_CODE_VALUE = re.compile(r"#?[A-Z0-9][A-Z0-9_#\-./]*")


def header_words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def header_kind(name: str) -> str | None:
    words = {_singular(w) for w in header_words(name)} | set(header_words(name))
    if words & NOT_ID_WORDS:
        return None
    for kind, keys in HEADER_RULES:
        if words & keys:
            return kind
    return None


def value_fits(kind: str, value: str) -> bool:
    """Whether a field value can be a term of ``kind`` (codes are code-like; a person may be a name)."""
    value = value.strip()
    if not value or len(value) > 40:
        return False
    if kind == "person":
        return any(ch.isalnum() for ch in value)
    if kind == "policy":
        return bool(re.search(r"[A-Z]", value))
    return CODE_TOKEN_RE.fullmatch(value) is not None and _CODE_VALUE.fullmatch(value) is not None


@dataclass
class Table:
    rel: str
    header: list[str]
    rows: list[tuple[int, list[str]]] = field(default_factory=list)  # (1-based line, cells)

    def column(self, j: int) -> list[str]:
        return [r[j].strip() for _, r in self.rows if j < len(r)]


def csv_table(rel: str, lines: list[str]) -> Table | None:
    at = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if at is None:
        return None
    header = [h.strip() for h in next(csv.reader([lines[at]]))]
    table = Table(rel, header)
    for i in range(at + 1, len(lines)):
        if lines[i].strip():
            try:
                row = next(csv.reader([lines[i]]))
            except csv.Error:
                continue
            if len(row) == len(header):
                table.rows.append((i + 1, row))
    return table


def markdown_tables(rel: str, lines: list[str]) -> list[Table]:
    tables: list[Table] = []
    current: Table | None = None
    for i, line in enumerate(lines, start=1):
        s = line.strip()
        if not (s.startswith("|") and s.endswith("|") and len(s) > 1):
            current = None
            continue
        cells = [c.strip() for c in s[1:-1].split("|")]
        if current is None:
            current = Table(rel, cells)
            tables.append(current)
        elif all(re.fullmatch(r":?-{2,}:?", c) for c in cells if c):
            continue
        elif len(cells) == len(current.header):
            current.rows.append((i, cells))
    return tables


def _name_like(values: list[str]) -> bool:
    named = [v for v in values if re.search(r"[a-z]", v) or " " in v]
    return bool(values) and len(named) >= 0.8 * len(values)


def reference_columns(table: Table) -> tuple[int, list[int]] | None:
    """(code column, name columns) when ``table`` maps codes to names, else None."""
    if len(table.rows) < 2 or len(table.header) < 2:
        return None
    words = [set(header_words(h)) for h in table.header]
    if not any(w & REFERENCE_WORDS or header_kind(h) for w, h in zip(words, table.header, strict=True)):
        return None
    if sum(1 for h in table.header if header_kind(h) in ID_KINDS) > 1:
        return None  # a record table (orders with tracking numbers), not a mapping
    code_col = None
    for j in range(len(table.header)):
        col = table.column(j)
        if len(col) == len(table.rows) and len(set(col)) == len(col) and all(_CODE_VALUE.fullmatch(v) for v in col):
            code_col = j
            break
    if code_col is None:
        return None
    names = []
    for j in range(len(table.header)):
        col = [v for v in table.column(j) if v]
        if j == code_col or not _name_like(col):
            continue
        if words[j] & ALIAS_WORDS or len(set(col)) >= 0.9 * len(col):
            names.append(j)
    # columns whose header says "name" beat other wordy columns (a format description, a list of gateways)
    named = [j for j in names if words[j] & (REFERENCE_WORDS | ALIAS_WORDS)]
    names = named or names
    return (code_col, names) if names else None


def reference_kind(table: Table, code_col: int, names: list[int], field_kinds: dict[str, str]) -> str:
    """The kind a reference table names: its code column's header, then its file name, then its name columns'
    headers, then where its codes occur as values."""
    generic = REFERENCE_WORDS | {"id", "key"}
    code_header = table.header[code_col]
    kind = header_kind(code_header)
    if kind and kind != "person" and not set(header_words(code_header)) <= generic:
        return kind
    stem = table.rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    kind = header_kind(stem)
    if kind and kind != "person":
        return kind
    for j in names:
        words = set(header_words(table.header[j]))
        kind = header_kind(table.header[j])
        if kind and kind != "person" and not words <= generic:
            return kind
    seen = [field_kinds[v] for v in table.column(code_col) if v in field_kinds]
    return max(set(seen), key=seen.count) if seen else "code"


@dataclass
class FieldValues:
    """Values of structured fields by kind, with where each was first seen and the header words of its columns."""

    first_seen: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))  # kind -> value -> src
    headers: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # kind -> header words

    def add(self, kind: str, header: str, value: str, source: str) -> None:
        value = value.strip()
        if value_fits(kind, value):
            self.first_seen[kind].setdefault(value, source)
            self.headers[kind].update(w for w in header_words(header) if w.isalpha() and w not in ("id", "no", "nr"))

    def kinds_by_value(self) -> dict[str, str]:
        return {v: k for k, vals in self.first_seen.items() for v in vals}


def table_fields(table: Table, fields: FieldValues) -> None:
    for j, h in enumerate(table.header):
        kind = header_kind(h)
        if kind:
            for line, row in table.rows:
                if j < len(row):
                    fields.add(kind, h, row[j], f"{table.rel}:{line} ({h})")


def jsonl_fields(rel: str, lines: list[str], fields: FieldValues) -> None:
    for i, line in enumerate(lines, start=1):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if not isinstance(rec, dict):
            continue
        meta = rec.get("metadata")
        for key, value in meta.items() if isinstance(meta, dict) else ():
            kind = header_kind(str(key))
            if kind and isinstance(value, str | int) and not isinstance(value, bool):
                fields.add(kind, str(key), str(value), f"{rel}:{i} ({key})")
        rtype = str(rec.get("type", ""))
        if rec.get("id") and header_kind(rtype) == "rma":
            fields.add("rma", rtype, str(rec["id"]), f"{rel}:{i} (id)")


def add_reference(table: Table, vocab: Vocabulary, field_kinds: dict[str, str], seen: dict[str, Term]) -> int:
    """Add a reference table's codes; a code another reference table names differently is reported, first kept."""
    cols = reference_columns(table)
    if cols is None:
        return 0
    code_col, names = cols
    kind = reference_kind(table, code_col, names, field_kinds)
    added = 0
    for line, row in table.rows:
        code = row[code_col].strip()
        synonyms: list[str] = []
        for j in names:
            cell = row[j].strip()
            parts = re.split(r"\s*[;|]\s*", cell) if set(header_words(table.header[j])) & ALIAS_WORDS else [cell]
            synonyms += [p for p in parts if p and p.lower() not in {s.lower() for s in synonyms}]
        term = Term(kind, code, tuple(synonyms), f"{table.rel}:{line}")
        before = seen.get(code)
        if before is not None and (before.kind != kind or before.synonyms[:1] != term.synonyms[:1]):
            vocab.problems.append(
                f"{term.source}: reference tables disagree on {code!r}: {kind} {term.synonyms[:1]} here, "
                f"{before.kind} {before.synonyms[:1]} at {before.source}: kept {before.source}"
            )
            continue
        seen.setdefault(code, term)
        other = vocab.add_term(term)
        if other is not None:
            vocab.problems.append(f"{term.source}: {code!r} is a {other.kind} in {other.source}: kept that")
        else:
            added += 1
    return added
