"""Hybrid retrieval over one index version: tantivy BM25 + FAISS dense (+ a key-constrained BM25 list), fused
with RRF, then reranked."""

from __future__ import annotations

import re
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
from retrieval.query import QueryAnalysis, analyze
from retrieval.rerank import Reranker, default_reranker

POLICY_WORDS = re.compile(r"\b(polic(y|ies)|in effect|in force)\b", re.IGNORECASE)
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

    def _key_filters(self, a: QueryAnalysis, filters: dict[str, Any] | None) -> list[dict[str, Any]]:
        """Filters for the key-constrained BM25 lists: every key the query names (strict), then ids alone."""
        fields = {k: a.key(k) for k in KEY_FIELDS}
        strict: dict[str, Any] = {k: v for k, v in fields.items() if v}
        if a.date_from and "date_from" not in (filters or {}):
            strict["date_from"], strict["date_to"] = a.date_from, a.date_to
        ids = {k: v for k, v in fields.items() if v and k in ID_KEYS}
        out = [f for f in (strict, ids) if f]
        if len(out) == 2 and out[0] == out[1]:
            out.pop()
        return [{**f, **(filters or {})} for f in out]

    def analyze(self, query: str) -> QueryAnalysis:
        """The query's keys in this index's vocabulary."""
        return analyze(query, self.vocabulary)

    def _linked(self, a: QueryAnalysis) -> dict[str, list[str]]:
        """Ids linked to the ones the query names (an order's tracking numbers and RMAs, ...), by metadata list."""
        seeds = {kind: a.key(key) for kind, key in LINK_KEYS.items() if a.key(key)}
        if not seeds:
            return {}
        related = self.links.related(seeds)
        return {LINK_KEYS[kind]: sorted(values) for kind, values in related.items() if values}

    def _policies_in_effect(self, a: QueryAnalysis, n: int, filters: dict[str, Any] | None) -> list[tuple[int, float]]:
        """For "which policy was in effect on <date>": the version of each matching policy effective at the
        query's date (the newest with an effective date <= it), its chunks in BM25 order."""
        if not a.date_to or not POLICY_WORDS.search(a.text):
            return []
        hits = self.keyword.search(a.expanded_text, n, {**(filters or {}), "doc_type": "policy", "date_to": a.date_to})
        latest: dict[str, str] = {}
        for row, _ in hits:
            m = self.chunks[row].metadata
            for name in m.get("policies", ()):
                base = name.split()[0]
                latest[base] = max(latest.get(base, ""), m.get("timestamp") or "")
        return [
            (row, s)
            for row, s in hits
            if any(
                latest.get(p.split()[0]) == self.chunks[row].metadata.get("timestamp")
                for p in self.chunks[row].metadata.get("policies", ())
            )
        ]

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
        for key_filters in self._key_filters(a, filters):
            lists.append(self.keyword.search(a.expanded_text, n, key_filters))
            weights.append(cfg.weights[2])
        linked = self._linked(a)
        if linked:
            lists.append(self.keyword.search(a.expanded_text, n, {**(filters or {}), "any_of": linked}))
            weights.append(cfg.weights[2])
        in_effect = self._policies_in_effect(a, n, filters)
        if in_effect:
            lists.append(in_effect)
            weights.append(cfg.policy_weight)
        fused = fuse(cfg.fusion, lists, weights, cfg.rrf_k)
        if rerank and fused:
            depth = max(cfg.rerank_depth, k)
            head = fused[:depth]
            scores = self.reranker.score(a, [self.chunks[r] for r, _ in head])
            reranked = sorted(zip((r for r, _ in head), scores, strict=True), key=lambda t: -t[1])
            top = fuse("rrf", [head, reranked], [1.0, cfg.rerank_weight], cfg.rrf_k)
            floor = top[-1][1]
            fused = top + [(r, floor * (1 - (i + 1) / (len(fused) + 1))) for i, (r, _) in enumerate(fused[depth:])]
        return self._hits(fused, k)
