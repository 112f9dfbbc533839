"""The retrieval benchmark's scoring on a tiny hand-checked case, and its rank-bm25 peer agreeing with tantivy."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.bench.retrieval import bm25_speed, evidence_recall, recall_table
from retrieval.rerank import KeyMatchReranker
from retrieval.retriever import Retriever


def test_evidence_recall_counts_substrings() -> None:
    assert evidence_recall(["abc", "xyz"], ["..abc..", "nothing"]) == 0.5
    assert evidence_recall(["abc"], []) == 0.0


def test_recall_table_per_type_and_k() -> None:
    qs = [
        {"question": "a", "type": "t1", "evidence": ["gold"]},
        {"question": "b", "type": "t2", "evidence": ["x", "y"]},
    ]
    ranked = {"a": ["no"] * 15 + ["gold"], "b": ["x"]}
    table = recall_table(qs, lambda q, k: ranked[q][:k])
    assert table["by_type"]["t1"] == {10: 0.0, 20: 1.0, 50: 1.0}
    assert table["by_type"]["t2"] == {10: 0.5, 20: 0.5, 50: 0.5}
    assert table["all"][20] == pytest.approx(0.75)


def test_bm25_peer_agrees(tmp_path: Path) -> None:
    from engine.tokenizer import load_tokenizer
    from ingest.chunker import chunk_file
    from ingest.loaders import discover, load_file
    from retrieval.index import build_version
    from tests.helpers.corpus_fixture import write_fixture_corpus
    from tests.helpers.fakes import HashEmbedder

    write_fixture_corpus(tmp_path)
    files, _ = discover(tmp_path / "docs")
    chunks = [c for f in files for c in chunk_file(load_file(f, tmp_path / "docs"), load_tokenizer().count)[0]]
    emb = HashEmbedder()
    vdir = build_version(tmp_path / "i", "v000001", chunks, emb.encode([c.text for c in chunks]))
    ret = Retriever.load(vdir, embedder=emb, reranker=KeyMatchReranker())
    out = bm25_speed(ret.chunks, ret, ["seal breach review", "refund damaged", "LEJ1 warehouse notes"], seconds=0.2)
    assert out["bm25_top10_overlap"] >= 0.9 and out["tantivy_qps"] > 0 and out["rank_bm25_qps"] > 0
