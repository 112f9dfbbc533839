"""tantivy BM25 against rank-bm25 (Lucene idf, same tokens) and the metadata filters."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from ingest.records import Chunk
from retrieval.keyword import KeywordIndex, tokenize


class LuceneBM25(BM25Okapi):
    """rank-bm25 with the idf tantivy/Lucene use: ln(1 + (N - n + 0.5) / (n + 0.5))."""

    def _calc_idf(self, nd: dict[str, int]) -> None:
        for word, freq in nd.items():
            self.idf[word] = math.log(1 + (self.corpus_size - freq + 0.5) / (freq + 0.5))


def _chunk(i: int, text: str, **meta: object) -> Chunk:
    return Chunk(f"d#{i}", "d", f"d:{i}-{i}", text, str(i), 1, dict(meta))


def test_tokenize_matches_tantivy_default() -> None:
    assert tokenize("Order #48291: SKU-EL-10423 via SKX7731290042, Café!") == [
        "order",
        "48291",
        "sku",
        "el",
        "10423",
        "via",
        "skx7731290042",
        "café",
    ]


def test_bm25_scores_equal_rank_bm25(tmp_path: Path) -> None:
    rng = random.Random(0)
    vocab = [f"t{i}" for i in range(60)]
    texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(3, 30))) for _ in range(300)]
    index = KeywordIndex.build(tmp_path / "kw", [_chunk(i, t) for i, t in enumerate(texts)])
    oracle = LuceneBM25([tokenize(t) for t in texts], k1=1.2, b=0.75)
    for _ in range(30):
        query = rng.sample(vocab, rng.randint(1, 3))
        ours = index.search(" ".join(query), k=10)
        ref = oracle.get_scores(query)
        top_ref = np.sort(ref)[::-1][: len(ours)]
        np.testing.assert_allclose([s for _, s in ours], top_ref, rtol=1e-4)
        np.testing.assert_allclose([ref[row] for row, _ in ours], [s for _, s in ours], rtol=1e-4)


def test_filters_and_boosts(tmp_path: Path) -> None:
    chunks = [
        _chunk(
            0, "seal breach held", order_ids=["#1"], fcs=["LEJ1"], doc_type="scan", timestamp="2021-03-02T10:00:00Z"
        ),
        _chunk(1, "seal breach held again", order_ids=["#2"], fcs=["MAD2"], doc_type="scan", timestamp="2021-04-02"),
        _chunk(2, "refund approved", order_ids=["#2"], fcs=["MAD2"], doc_type="refund", timestamp="2021-03-20"),
        _chunk(3, "policy text seal", doc_type="policy"),
    ]
    idx = KeywordIndex.build(tmp_path / "kw", chunks)
    assert {r for r, _ in idx.search("seal", 10)} == {0, 1, 3}
    assert [r for r, _ in idx.search("seal", 10, {"fc": "LEJ1"})] == [0]
    assert [r for r, _ in idx.search("seal", 10, {"doc_type": ["scan"], "date_from": "2021-04-01"})] == [1]
    assert sorted(idx.rows_matching({"date_from": "2021-03-01", "date_to": "2021-03-31"})) == [0, 2]
    assert sorted(idx.rows_matching({"order_id": "#2"})) == [1, 2]
    boosted = idx.search("seal refund", 10, boosts={"order_ids": ["#2"]})
    assert {r for r, _ in boosted[:2]} == {1, 2}
    with pytest.raises(ValueError, match="unknown filter 'colour'"):
        idx.search("seal", 10, {"colour": "red"})
    reopened = KeywordIndex.open(tmp_path / "kw")
    assert reopened.search("refund", 1)[0][0] == 2
