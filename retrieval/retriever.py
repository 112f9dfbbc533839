"""Hybrid retrieval over one index version: tantivy BM25 + FAISS dense (+ a key-constrained BM25 list), fused
with RRF, then reranked."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.links import Links, links_from_metadata
from ingest.records import Chunk
from ingest.vocab_model import KIND_KEYS, Vocabulary
from retrieval.dense import DenseIndex
from retrieval.embed import Embedder
from retrieval.fusion import fuse
from retrieval.index import live_dir, load_chunks, load_vocabulary
from retrieval.keyword import KeywordIndex
from retrieval.patterns import pattern_filters, with_linked
from retrieval.policies import PolicyIndex
from retrieval.query import QueryAnalysis, analyze
from retrieval.rerank import Reranker, default_reranker

LINK_KEYS = {k: KIND_KEYS[k] for k in ("order", "tracking", "rma")}  # link kind -> metadata list
ID_KEYS = ("order_ids", "skus", "tracking_numbers", "rma_ids")
KEY_FIELDS = ("order_ids", "skus", "exception_codes", "fcs", "carriers", "tracking_numbers", "rma_ids")


@dataclass
class Hit:
    id: str
    source: str
    text: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RetrieverConfig:
    """``weights`` are the RRF weights of (bm25, dense, keys); ``candidates`` per list; ``rerank_depth`` fused
    candidates rescored by the reranker."""

    fusion: str = "rrf"
    rrf_k: int = 60
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0)
    candidates: int = 100
    rerank_depth: int = 30
    rerank_weight: float = 1.0
    policy_weight: float = 3.0  # the "policy in effect on <date>" list is exact: it outweighs the others
    pattern_weight: float = 3.0  # so is "the same pattern in <another period>" (`retrieval.patterns`)

    def __post_init__(self) -> None:
        if self.candidates < 1 or self.rerank_depth < 1:
            raise ValueError("candidates and rerank_depth must be positive")


class Retriever:
    """Load with `Retriever.load(version_dir)` or `Retriever.live(index_root)`; thread-safe for reads."""

    def __init__(
        self,
        chunks: list[Chunk],
        keyword: KeywordIndex,
        dense: DenseIndex,
        embedder: Embedder | None = None,
        reranker: Reranker | None = None,
        config: RetrieverConfig | None = None,
        version_dir: Path | None = None,
        vocabulary: Vocabulary | None = None,
    ) -> None:
        if not chunks:
            raise ValueError("the index is empty: ingest at least one non-empty file first")
        assert len(chunks) == len(dense), (len(chunks), len(dense))
        self.chunks = chunks
        self.keyword = keyword
        self.dense = dense
        self.embedder = embedder or Embedder()
        self._reranker = reranker
        self.config = config or RetrieverConfig()
        self.version_dir = version_dir
        self.version = version_dir.name if version_dir else ""
        self.vocabulary = vocabulary or Vocabulary()
        self.links: Links = links_from_metadata(chunks, LINK_KEYS)
        self.policy_index = PolicyIndex(chunks, self.vocabulary, self.links)  # versions with a document and a date

    @classmethod
    def load(cls, version_dir: Path, **kwargs: Any) -> Retriever:
        chunks = load_chunks(version_dir)
        return cls(
            chunks,
            KeywordIndex.open(version_dir / "keyword"),
            DenseIndex.load(version_dir / "dense.faiss"),
            version_dir=version_dir,
            vocabulary=load_vocabulary(version_dir),
            **kwargs,
        )

    @classmethod
    def live(cls, index_root: Path, **kwargs: Any) -> Retriever:
        return cls.load(live_dir(index_root), **kwargs)

    @property
    def reranker(self) -> Reranker:
        if self._reranker is None:
            self._reranker = default_reranker()
        return self._reranker

    def _hits(self, ranked: list[tuple[int, float]], k: int) -> list[Hit]:
        out = []
        for row, score in ranked[:k]:
            c = self.chunks[row]
            out.append(Hit(c.id, c.source, c.text, float(score), {**c.metadata, "doc_id": c.doc_id}))
        return out

    def bm25(self, query: str, k: int = 20, filters: dict[str, Any] | None = None) -> list[Hit]:
        """Plain BM25 on the query text (no analysis): the keyword-only baseline."""
        return self._hits(self.keyword.search(query, k, filters), k)

    def dense_search(self, query: str, k: int = 20, filters: dict[str, Any] | None = None) -> list[Hit]:
        allowed = self.keyword.rows_matching(filters) if filters else None
        return self._hits(self.dense.search(self.embedder.encode_query(query), k, allowed), k)

    def _key_filters(self, a: QueryAnalysis, filters: dict[str, Any] | None) -> list[tuple[dict[str, Any], bool]]:
        """Filters for the key-constrained BM25 lists, each with whether a row must also share a word with the
        query: every key the query names (strict), then the ids alone (a record that names the id belongs to the
        question whatever its words: an order's manifest row, its refund line)."""
        fields = {k: a.key(k) for k in KEY_FIELDS}
        strict: dict[str, Any] = {k: v for k, v in fields.items() if v}
        if a.date_from and "date_from" not in (filters or {}):
            strict["date_from"], strict["date_to"] = a.date_from, a.date_to
        ids = {k: v for k, v in fields.items() if v and k in ID_KEYS}
        out = [(f, f is not ids) for f in (strict, ids) if f]
        if len(out) == 2 and out[0][0] == out[1][0]:
            out = [(ids, False)]
        return [({**f, **(filters or {})}, need) for f, need in out]

    def analyze(self, query: str) -> QueryAnalysis:
        """The query's keys in this index's vocabulary."""
        return analyze(query, self.vocabulary)

    def _related(self, a: QueryAnalysis) -> dict[str, set[str]]:
        """Ids linked to the ones the query names (an order's tracking numbers and RMAs, ...), by link kind."""
        seeds = {kind: a.key(key) for kind, key in LINK_KEYS.items() if a.key(key)}
        return self.links.related(seeds) if seeds else {}

    def _records(self, a: QueryAnalysis, related: dict[str, set[str]]) -> list[int]:
        """Rows of the records the query's ids and the ids linked to them name (no digests, no policies)."""
        ids = {(kind, v) for kind, key in LINK_KEYS.items() for v in a.key(key)}
        ids |= {(kind, v) for kind, vs in related.items() for v in vs}
        return self.policy_index.records(ids) if ids else []

    def _linked_rows(self, row: int) -> list[int]:
        """The records that share an id with ``row``, those sharing the most ids first (a held return scan: its
        return authorisation, which names its tracking number and RMA, before the refund line naming the RMA)."""
        names = self.links.names.get(self.chunks[row].id, {})
        ids = {(kind, v) for kind, vs in names.items() for v in vs}

        def shared(r: int) -> int:
            other = self.links.names.get(self.chunks[r].id, {})
            return len(ids & {(kind, v) for kind, vs in other.items() for v in vs})

        return sorted(self.policy_index.records(ids), key=lambda r: (-shared(r), r))

    def _exceptions_first(self, ranked: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """``ranked`` with the rows that carry a rarer exception code first (stable): among the records linked to
        an order, the one that says what went wrong."""
        counts = self.policy_index.code_chunks

        def rarity(row: int) -> int:
            codes = self.chunks[row].metadata.get("exception_codes") or ()
            return min((counts[c] for c in codes), default=len(self.chunks))

        return sorted(ranked, key=lambda t: rarity(t[0]))

    def _same_elsewhere(
        self, a: QueryAnalysis, records: list[int], plain: list[tuple[int, float]], filters: dict[str, Any] | None
    ) -> list[list[tuple[int, float]]]:
        """For "did the same happen in <another period>": that period's records sharing the named records'
        pattern (`retrieval.patterns`), each with the records it links to."""
        out: list[list[tuple[int, float]]] = []
        for f in pattern_filters(a.text, a.spans, records, self.chunks, self.policy_index.code_chunks):
            n = len(plain)
            rows = [r for r, _ in self.keyword.search(a.expanded_text, n, {**f, **(filters or {})}, require_text=False)]
            for j, ranking in enumerate(with_linked(rows, self._linked_rows, plain)):
                if j < len(out):  # one ranking per position in the group, whatever the period
                    out[j] = sorted(out[j] + ranking[:n], key=lambda t: -t[1])
                else:
                    out.append(ranking[:n])
        return out

    def _policies(
        self, a: QueryAnalysis, records: list[int], plain: list[tuple[int, float]], filters: dict[str, Any] | None
    ) -> tuple[list[tuple[int, float]], bool, set[int]]:
        """The policy chunks the question needs (`PolicyIndex.select`) in the order of the ``plain`` ranking,
        whether it asks about a policy, and the policy chunks to rank last."""
        sel = self.policy_index.select(a.text, a.key("policies"), a.spans, records)
        rows = sel.rows & set(self.keyword.rows_matching(filters)) if filters and sel.rows else sel.rows
        rank = {row: i for i, (row, _) in reversed(list(enumerate(plain)))}
        ordered = sorted(rows, key=lambda r: (rank.get(r, len(plain)), r))
        last = (self.policy_index.rows - rows) if sel.asks and rows else sel.stale
        return [(r, 1.0 / (i + 1)) for i, r in enumerate(ordered)], sel.asks, last

    def search(self, query: str, k: int = 20, filters: dict[str, Any] | None = None, rerank: bool = True) -> list[Hit]:
        """The top ``k`` chunks for ``query``, best first.

        ``filters``: ``order_id``/``order_ids``, ``sku``, ``carrier``, ``fc``, ``exception_codes``, ``doc_type`` (a
        value or a list) and ``date_from``/``date_to`` (ISO, inclusive) restrict every list.
        """
        if k < 1:
            raise ValueError(f"k={k}: ask for at least one hit")
        cfg = self.config
        a = self.analyze(query)
        n = max(cfg.candidates, k)
        bm25 = self.keyword.search(a.expanded_text, n, filters, boosts=a.boosts)
        allowed = self.keyword.rows_matching(filters) if filters else None
        dense = self.dense.search(self.embedder.encode_query(query), n, allowed)
        lists, weights = [bm25, dense], list(cfg.weights[:2])
        for key_filters, need_text in self._key_filters(a, filters):
            lists.append(self.keyword.search(a.expanded_text, n, key_filters, require_text=need_text))
            weights.append(cfg.weights[2])
        related = self._related(a)
        linked = {LINK_KEYS[kind]: sorted(values) for kind, values in related.items() if values}
        if linked:  # the linked records (scans naming only a tracking number) rarely share a word with the question
            linked_filters = {**(filters or {}), "any_of": linked}
            hits = self.keyword.search(a.expanded_text, n, linked_filters, require_text=False)
            lists.append(self._exceptions_first(hits))
            weights.append(cfg.weights[2])
        records = self._records(a, related)
        plain = fuse(cfg.fusion, [bm25, dense], None, cfg.rrf_k)
        for j, same in enumerate(self._same_elsewhere(a, records, plain, filters)):
            lists.append(same)  # the records that match the pattern are exact; the records they link to support them
            weights.append(cfg.pattern_weight if j == 0 else cfg.weights[2])
        in_effect, asks, last = self._policies(a, records, plain, filters)
        if in_effect:
            lists.append(in_effect)
            weights.append(cfg.policy_weight)
        fused = fuse(cfg.fusion, lists, weights, cfg.rrf_k)
        if last:  # versions not in force at the question's days (of a policy question: the other policies' too)
            fused = [f for f in fused if f[0] not in last] + [f for f in fused if f[0] in last]
        if rerank and fused:
            depth = max(cfg.rerank_depth, k)
            head = fused[:depth]
            scores = self.reranker.score(a, [self.chunks[r] for r, _ in head])
            reranked = sorted(zip((r for r, _ in head), scores, strict=True), key=lambda t: -t[1])
            top = fuse("rrf", [head, reranked], [1.0, cfg.rerank_weight], cfg.rrf_k)
            floor = top[-1][1]
            fused = top + [(r, floor * (1 - (i + 1) / (len(fused) + 1))) for i, (r, _) in enumerate(fused[depth:])]
        return self._hits(fused, k)
