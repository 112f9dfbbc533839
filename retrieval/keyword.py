"""BM25 over chunk text with tantivy, plus fast/raw fields for metadata filters.

Documents are keyed by ``row`` (the chunk's position in the index version), a u64 fast field read back with
``fast_field_values`` so a hit never loads a stored document.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import tantivy

from ingest.records import Chunk

TOKEN_RE = re.compile(r"[^\W_]+")
MAX_TOKEN_LEN = 40  # tantivy's default tokenizer drops longer tokens
FILTER_FIELDS = ("order_ids", "skus", "carriers", "fcs", "exception_codes", "tracking_numbers", "rma_ids", "doc_type")
FILTER_ALIASES = {
    "order_id": "order_ids",
    "sku": "skus",
    "carrier": "carriers",
    "fc": "fcs",
    "facility": "fcs",
    "tracking": "tracking_numbers",
    "rma": "rma_ids",
}


def tokenize(text: str) -> list[str]:
    """The tokens tantivy's ``default`` tokenizer makes (split on non-alphanumerics, lowercase, drop > 40 chars)."""
    return [t.lower() for t in TOKEN_RE.findall(text) if len(t) <= MAX_TOKEN_LEN]


def _schema() -> tantivy.Schema:
    b = tantivy.SchemaBuilder()
    b.add_unsigned_field("row", stored=False, indexed=True, fast=True)
    b.add_text_field("text", stored=False, tokenizer_name="default", index_option="freq")
    for name in FILTER_FIELDS:
        b.add_text_field(name, stored=False, tokenizer_name="raw", index_option="basic")
    b.add_date_field("ts", stored=False, indexed=True, fast=True)
    return b.build()


def parse_ts(value: str | None) -> datetime | None:
    """ISO date or date-time (``2021-03-02`` / ``2021-03-02T14:05:11Z``) as an aware UTC datetime."""
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class KeywordIndex:
    """A tantivy index of chunks in one directory. Build once per index version with `build`, then `open`."""

    def __init__(self, index: tantivy.Index) -> None:
        self.index = index
        self.schema = index.schema
        self.index.reload()
        self.searcher = index.searcher()

    @classmethod
    def build(cls, path: Path, chunks: Sequence[Chunk], heap_bytes: int = 64_000_000) -> KeywordIndex:
        path.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(_schema(), path=str(path))
        writer = index.writer(heap_size=heap_bytes, num_threads=1)
        for row, c in enumerate(chunks):
            doc = tantivy.Document()
            doc.add_unsigned("row", row)
            doc.add_text("text", c.text)
            for name in FILTER_FIELDS:
                values = c.metadata.get(name) or []
                for v in [values] if isinstance(values, str) else values:
                    doc.add_text(name, str(v))
            ts = parse_ts(c.metadata.get("timestamp"))
            if ts is not None:
                doc.add_date("ts", ts)
            writer.add_document(doc)
        writer.commit()
        writer.wait_merging_threads()
        return cls(index)

    @classmethod
    def open(cls, path: Path) -> KeywordIndex:
        if not (path / "meta.json").exists():
            raise FileNotFoundError(f"no tantivy index at {path}: run `longhaul ingest DIR --tenant T` first")
        return cls(tantivy.Index.open(str(path)))

    def filter_query(self, filters: dict[str, Any] | None) -> list[tuple[tantivy.Occur, tantivy.Query]]:
        """Must-clauses for ``filters``: keys of `FILTER_FIELDS` (a value or a list: any matches), ``date_from`` and
        ``date_to`` (ISO, inclusive), ``any_of`` (field -> values: a chunk with any of them in any field)."""
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
        for key, value in (filters or {}).items():
            if key in ("date_from", "date_to"):
                continue
            if key == "any_of":
                clauses.append((tantivy.Occur.Must, self._any_of(value)))
                continue
            name = FILTER_ALIASES.get(key, key)
            if name not in FILTER_FIELDS:
                raise ValueError(f"unknown filter {key!r}; known: {[*FILTER_FIELDS, 'date_from', 'date_to']}")
            values = [value] if isinstance(value, str) else list(value)
            clauses.append(
                (tantivy.Occur.Must, tantivy.Query.term_set_query(self.schema, name, [str(v) for v in values]))
            )
        lo, hi = parse_ts((filters or {}).get("date_from")), parse_ts((filters or {}).get("date_to"))
        if hi is not None and len(str((filters or {})["date_to"])) == 10:
            hi = hi.replace(hour=23, minute=59, second=59)
        if lo is not None or hi is not None:
            rq = tantivy.Query.range_query(self.schema, "ts", tantivy.FieldType.Date, lo, hi)
            clauses.append((tantivy.Occur.Must, rq))
        return clauses

    def _any_of(self, fields: dict[str, list[str]]) -> tantivy.Query:
        should = []
        for key, values in fields.items():
            name = FILTER_ALIASES.get(key, key)
            if name not in FILTER_FIELDS:
                raise ValueError(f"unknown filter field {key!r} in any_of; known: {list(FILTER_FIELDS)}")
            if values:
                should.append(
                    (tantivy.Occur.Should, tantivy.Query.term_set_query(self.schema, name, [str(v) for v in values]))
                )
        return tantivy.Query.boolean_query(should)

    def search(
        self,
        query: str,
        k: int = 50,
        filters: dict[str, Any] | None = None,
        boosts: dict[str, list[str]] | None = None,
        require_text: bool = True,
    ) -> list[tuple[int, float]]:
        """Top ``k`` ``(row, bm25 score)`` for the query's tokens (OR), restricted by ``filters``.

        ``boosts`` maps a filter field to values whose presence adds a bonus (e.g. order ids named in the query).
        ``require_text=False`` (with ``filters``): rows that pass the filters count even when they share no word with
        the query (score 0, after those that do): a scan line that names only a linked tracking number.
        """
        terms = list(dict.fromkeys(tokenize(query)))
        should = [(tantivy.Occur.Should, tantivy.Query.term_query(self.schema, "text", t)) for t in terms]
        for name, values in (boosts or {}).items():
            if values:
                q = tantivy.Query.term_set_query(self.schema, name, list(values))
                should.append(
                    (tantivy.Occur.Should, tantivy.Query.boost_query(tantivy.Query.const_score_query(q, 1.0), 5.0))
                )
        must = self.filter_query(filters)
        if not should and not must:
            return []
        text_q = tantivy.Query.boolean_query(should) if should else tantivy.Query.all_query()
        text_occur = tantivy.Occur.Must if require_text or not must else tantivy.Occur.Should
        q = tantivy.Query.boolean_query([(text_occur, text_q), *must]) if must else text_q
        hits = self.searcher.search(q, k, count=False).hits
        if not hits:
            return []
        rows = self.searcher.fast_field_values("row", [addr for _, addr in hits])
        return [(int(cast(int, r)), float(s)) for (s, _), r in zip(hits, rows, strict=True)]

    def rows_matching(self, filters: dict[str, Any]) -> list[int]:
        """Every row that passes ``filters`` (for restricting the dense search)."""
        must = self.filter_query(filters)
        if not must:
            return []
        q = tantivy.Query.boolean_query(must)
        n = self.searcher.num_docs
        hits = self.searcher.search(q, max(n, 1), count=False).hits
        return [int(cast(int, r)) for r in self.searcher.fast_field_values("row", [a for _, a in hits])]
