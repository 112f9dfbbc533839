"""Retrieval benchmark: recall of gold evidence per question type for BM25, dense, hybrid, hybrid + rerank and the
LangChain peer (EnsembleRetriever over BM25Retriever + a FAISS vector store on the same chunks); tantivy vs
rank-bm25 queries/s and top-10 overlap; hybrid latency p50/p99 with and without the reranker.

The caller (``longhaul bench retrieval``) ingests the corpus and hands over a loaded `Retriever`.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from rank_bm25 import BM25Okapi

from ingest.records import Chunk
from retrieval.index import load_vectors
from retrieval.keyword import tokenize
from retrieval.retriever import Retriever

KS = (10, 20, 50)
SearchFn = Callable[[str, int], list[str]]  # question, k -> chunk texts, best first


class LuceneBM25(BM25Okapi):
    """rank-bm25 scored like tantivy/Lucene (idf = ln(1 + (N - n + 0.5) / (n + 0.5)), k1 = 1.2, b = 0.75)."""

    def __init__(self, corpus: list[list[str]]) -> None:
        super().__init__(corpus, k1=1.2, b=0.75)

    def _calc_idf(self, nd: dict[str, int]) -> None:
        for word, freq in nd.items():
            self.idf[word] = math.log(1 + (self.corpus_size - freq + 0.5) / (freq + 0.5))


def evidence_recall(evidence: Sequence[str], texts: Sequence[str]) -> float:
    """Fraction of gold evidence strings that are a substring of some retrieved chunk text."""
    return sum(any(e in t for t in texts) for e in evidence) / max(len(evidence), 1)


def recall_table(questions: Sequence[dict[str, Any]], search: SearchFn) -> dict[str, Any]:
    """``{"all": {k: r}, "by_type": {type: {k: r}}}`` averaged over questions."""
    per: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for q in questions:
        texts = search(q["question"], max(KS))
        for k in KS:
            r = evidence_recall(q["evidence"], texts[:k])
            per[q["type"]][k].append(r)
            per["all"][k].append(r)
    table = {t: {k: round(statistics.mean(v), 4) for k, v in ks.items()} for t, ks in per.items()}
    return {"all": table.pop("all"), "by_type": table}


def langchain_peer(retriever: Retriever, k: int = 50) -> SearchFn:
    """EnsembleRetriever(BM25Retriever, FAISS store) over our chunks and vectors (same MiniLM, no re-embedding)."""
    from langchain_classic.retrievers import EnsembleRetriever
    from langchain_community.retrievers import BM25Retriever
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings

    class _Emb(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return retriever.embedder.encode(texts).tolist()

        def embed_query(self, text: str) -> list[float]:
            return retriever.embedder.encode_query(text).tolist()

    chunks = retriever.chunks
    docs = [Document(page_content=c.text, metadata={"id": c.id}) for c in chunks]
    bm25 = BM25Retriever.from_documents(docs, k=k)
    assert retriever.version_dir is not None, "the peer needs a retriever loaded from an index version"
    vectors = load_vectors(retriever.version_dir)
    store = FAISS.from_embeddings(
        list(zip([c.text for c in chunks], vectors.tolist(), strict=True)),
        _Emb(),
        metadatas=[{"id": c.id} for c in chunks],
    )
    ensemble = EnsembleRetriever(retrievers=[bm25, store.as_retriever(search_kwargs={"k": k})], weights=[0.5, 0.5])
    return lambda q, n: [d.page_content for d in ensemble.invoke(q)][:n]


def bm25_speed(chunks: Sequence[Chunk], retriever: Retriever, queries: Sequence[str], seconds: float = 5.0) -> dict:
    """Queries/s of tantivy vs rank-bm25 on the same tokens and chunks, and their top-10 overlap."""
    oracle = LuceneBM25([tokenize(c.text) for c in chunks])
    overlaps = []
    for q in queries:  # tie-aware: one of ours counts when rank-bm25 scores it >= its own 10th best
        scores = oracle.get_scores(list(dict.fromkeys(tokenize(q))))
        n = min(10, int((scores > 0).sum()))
        if n == 0:
            continue
        kth = float(np.sort(scores)[-n])
        overlaps.append(sum(scores[r] >= kth * (1 - 1e-4) for r, _ in retriever.keyword.search(q, n)) / n)
    n_rank, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or n_rank < len(queries):
        oracle.get_scores(list(dict.fromkeys(tokenize(queries[n_rank % len(queries)]))))
        n_rank += 1
    rank_qps = n_rank / (time.perf_counter() - t0)
    n_ours, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        retriever.keyword.search(queries[n_ours % len(queries)], 10)
        n_ours += 1
    ours_qps = n_ours / (time.perf_counter() - t0)
    return {
        "tantivy_qps": round(ours_qps, 1),
        "rank_bm25_qps": round(rank_qps, 2),
        "bm25_qps_ratio_vs_rank_bm25": round(ours_qps / rank_qps, 1),
        "bm25_top10_overlap": round(statistics.mean(overlaps), 4),
    }


def latency(fn: Callable[[str], object], queries: Sequence[str], repeats: int = 3) -> dict[str, float]:
    for q in queries[:3]:
        fn(q)  # warm up
    times = []
    for _ in range(repeats):
        for q in queries:
            t = time.perf_counter()
            fn(q)
            times.append((time.perf_counter() - t) * 1000)
    return {"p50_ms": round(float(np.percentile(times, 50)), 2), "p99_ms": round(float(np.percentile(times, 99)), 2)}


def run(retriever: Retriever, questions: Sequence[dict[str, Any]], with_peer: bool = True) -> dict[str, Any]:
    """Every retrieval measurement on one loaded retriever; JSON-ready."""
    n = max(KS)

    def texts(hits: list) -> list[str]:
        return [h.text for h in hits]

    modes: dict[str, SearchFn] = {
        "bm25": lambda q, k: texts(retriever.bm25(q, k)),
        "dense": lambda q, k: texts(retriever.dense_search(q, k)),
        "hybrid": lambda q, k: texts(retriever.search(q, k, rerank=False)),
        "hybrid_rerank": lambda q, k: texts(retriever.search(q, k, rerank=True)),
    }
    if with_peer:
        modes["langchain"] = langchain_peer(retriever, n)
    recall = {name: recall_table(questions, fn) for name, fn in modes.items()}
    queries = [q["question"] for q in questions]
    speed = bm25_speed(retriever.chunks, retriever, queries)
    plain = latency(lambda q: retriever.search(q, 20, rerank=False), queries)
    rer = latency(lambda q: retriever.search(q, 20, rerank=True), queries, repeats=1)  # ~1 s per query on CPU
    types = sorted(recall["hybrid_rerank"]["by_type"])
    out: dict[str, Any] = {
        "n_questions": len(questions),
        "n_chunks": len(retriever.chunks),
        "recall": recall,
        "recall20_bm25": recall["bm25"]["all"][20],
        "recall20_dense": recall["dense"]["all"][20],
        "recall20_hybrid": recall["hybrid"]["all"][20],
        "recall20_hybrid_rerank": recall["hybrid_rerank"]["all"][20],
        "recall20_hybrid_by_type": {t: recall["hybrid"]["by_type"][t][20] for t in types},
        "recall20_by_type": {
            t: {
                "ours": recall["hybrid_rerank"]["by_type"][t][20],
                "langchain": recall["langchain"]["by_type"][t][20] if with_peer else None,
            }
            for t in types
        },
        **speed,
        "hybrid_p50_ms": plain["p50_ms"],
        "hybrid_p99_ms": plain["p99_ms"],
        "rerank_p50_ms": rer["p50_ms"],
        "rerank_p99_ms": rer["p99_ms"],
    }
    if with_peer:
        out["recall20_langchain"] = recall["langchain"]["all"][20]
    return out
