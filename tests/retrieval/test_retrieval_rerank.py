"""Rerankers: the trained cross-encoder artifact (small, top layers only) ranks gold evidence first."""

from __future__ import annotations

import json

import pytest
from safetensors import safe_open

from ingest.records import Chunk
from retrieval.query import analyze
from retrieval.rerank import ARTIFACT_DIR, CrossEncoderReranker, KeyMatchReranker
from retrieval.rerank_train import trainable

NEEDLE = (
    "2021-03-02T01:06:11Z SKX SKX6480566962 #48291 LEJ1 EXCEPTION EX-77 SEAL_BREACH_REVIEW tamper seal breach, "
    "held for security review\n2021-03-03T10:00:00Z SKX SKX6480566962 #48291 LEJ1 RETURN_RECEIVED"
)
OTHERS = [
    "2021-03-02T04:06:11Z MRP MRP1111111111 #48213 MAD2 PICKED_UP\n2021-03-04T10:00:00Z MRP MRP1111111111 #48213 "
    "DEST DELIVERED",
    "order_id,order_date,customer,fc,carrier,tracking,sku,category,qty,declared_value_usd,ship_date\n#48291,"
    "2021-02-22,C-20931,LEJ1,SKX,SKX7731290042,SKU-EL-10423,electronics,1,1899.00,2021-02-23",
    "# POL-RETURNS v2 — effective 2019-01-01\n## Window\nReturns are accepted within 30 days of delivery.",
    "2022-07-09T08:00:00Z KST KST2222222222 #51234 SIN1 EXCEPTION EX-27 WEATHER_DELAY weather delay at hub",
]


def _chunks() -> list[Chunk]:
    return [Chunk(f"c#{i}", "c", f"c:{i}-{i}", t, str(i), 1, {}) for i, t in enumerate([*OTHERS, NEEDLE])]


def test_artifact_is_small_and_only_top_layers() -> None:
    manifest = json.loads((ARTIFACT_DIR / "manifest.json").read_text())
    size = (ARTIFACT_DIR / "reranker.safetensors").stat().st_size
    assert size < 20_000_000
    with safe_open(str(ARTIFACT_DIR / "reranker.safetensors"), "pt") as f:
        names = list(f.keys())
    assert len(names) == manifest["trained_tensors"]
    assert all(trainable(n, 6, manifest["config"]["train_layers"]) for n in names)
    assert manifest["heldout_after"]["mrr"] > manifest["heldout_before"]["mrr"]


@pytest.mark.parametrize("reranker", [KeyMatchReranker, pytest.param(CrossEncoderReranker, marks=pytest.mark.slow)])
def test_gold_scores_highest(reranker) -> None:
    a = analyze("Why was the refund for order #48291 held for a security review?")
    scores = reranker().score(a, _chunks())
    assert max(range(len(scores)), key=scores.__getitem__) == len(OTHERS)


def test_missing_artifact_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="longhaul train reranker"):
        CrossEncoderReranker(tmp_path)
