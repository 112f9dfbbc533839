from __future__ import annotations

import random
import re

import pytest

from eval.litm.sweep import LitmItem, gold_rank, litm_sweep, plot_litm, ranked_evidence
from tests.helpers.packing import blocks, last_question


def _items(n: int, n_distractors: int = 9, with_id: bool = True) -> list[LitmItem]:
    rng = random.Random(0)
    items = []
    for i in range(n):
        ids = rng.sample(range(100000, 999999), n_distractors + 1)
        codes = [f"EX-{rng.randint(10, 99)}" for _ in ids]
        recs = [f"Order #{o} was held at the hub with exception {c}." for o, c in zip(ids, codes, strict=True)]
        q = f"Which exception code held order #{ids[0]}?" if with_id else f"Which code is in record {i}?"
        items.append(LitmItem(q, recs[0], tuple(recs[1:]), (codes[0],)))
    return items


def edge_reader(prompt: str) -> str:
    """Fake model that only reads the first and last 20% of the evidence: right iff the gold sits there."""
    bs = blocks(prompt)
    n = len(bs)
    ids = re.findall(r"#\d+", last_question(prompt))
    for k, (_, text) in enumerate(bs):
        if ids and ids[0] in text and (k < 0.2 * n or k >= n - 0.2 * n):
            return re.search(r"EX-\d\d", text).group(0)
    return "not found in the evidence"


def test_packing_litm_ours_flat_while_baselines_lose_the_middle(tok):
    items = _items(3)
    res = litm_sweep(items, tok, 2000, edge_reader, positions=10)
    acc = res["accuracy"]
    assert res["litm_worst_over_best_ours"] >= 0.9
    assert res["litm_worst_over_best_ours"] > res["litm_worst_over_best_retrieval"]
    assert res["litm_worst_over_best_ours"] > res["litm_worst_over_best_reorder"]
    assert res["litm_worst_over_best_langchain"] == res["litm_worst_over_best_reorder"]
    assert res["litm_worst_over_best_retrieval_order"] == res["litm_worst_over_best_retrieval"]
    # retrieval order: the gold is read only when its rank puts it at an edge
    assert acc["retrieval"] == [1.0 if k in (0, 1, 8, 9) else 0.0 for k in range(10)]
    # placement alone puts ranks 1-4 at the edges; the middle of the ranking is what it gives up
    assert acc["ours_placement_only"][:4] == [1.0] * 4 and min(acc["ours_placement_only"]) == 0.0
    assert res["litm_worst_over_best_ours_placement_only"] == 0.0
    assert all(v == 1.0 for v in res["gold_in_context"]["ours"])
    assert all(s == 1.0 for s in res["gold_slot"]["ours"])  # promoted to the first record


def test_packing_litm_each_order_places_the_rank_by_its_rule(tok):
    res = litm_sweep(_items(2), tok, 2000, lambda p: "", positions=10)
    assert res["gold_rank"] == list(range(1, 11))
    assert res["gold_slot"]["retrieval"] == [float(r) for r in range(1, 11)]
    assert res["gold_slot"]["reorder"] == [10.0, 1.0, 9.0, 2.0, 8.0, 3.0, 7.0, 4.0, 6.0, 5.0]
    assert res["gold_slot"]["ours_placement_only"] == [1.0, 10.0, 2.0, 9.0, 3.0, 8.0, 4.0, 7.0, 5.0, 6.0]
    assert all(v == [1.0] * 10 for v in res["records_in_context"].values())  # placement, not truncation
    # "ours" puts the promoted gold first whatever its rank: one distinct prompt per item (the same as
    # ours_placement_only's at rank 1), asked once
    assert res["asks"] == 2 * (10 + 10 + 10)


def test_packing_litm_without_identifiers_ours_is_placement(tok):
    res = litm_sweep(_items(2, with_id=False), tok, 2000, edge_reader, positions=10)
    assert res["accuracy"]["ours"] == [0.0] * 10  # the reader cannot find the gold without an id


def test_packing_litm_budget_drops_low_ranks_for_baselines(tok):
    items = _items(2, n_distractors=19)
    res = litm_sweep(items, tok, 330, lambda p: "", positions=5, orders=("retrieval", "ours"))
    assert res["gold_in_context"]["retrieval"][0] == 1.0 and res["gold_in_context"]["retrieval"][-1] == 0.0
    assert res["gold_in_context"]["ours"] == [1.0] * 5
    assert res["records_in_context"]["retrieval"][0] < 1.0


def test_packing_litm_helpers_and_errors(tok, tmp_path):
    assert [gold_rank(k, 10, 10) for k in range(10)] == list(range(1, 11))
    assert gold_rank(0, 10, 25) == 1 and gold_rank(9, 10, 25) == 25
    item = _items(1)[0]
    ev = ranked_evidence(item, 4)
    assert ev[3].id == "gold" and [e.rank for e in ev] == list(range(1, 11))
    with pytest.raises(ValueError, match="distractors"):
        litm_sweep(_items(1, n_distractors=3), tok, 2000, edge_reader)
    with pytest.raises(ValueError, match="ours"):
        litm_sweep(_items(1), tok, 2000, edge_reader, orders=("nope",))
    res = litm_sweep(_items(1), tok, 2000, edge_reader, positions=3)
    path = plot_litm(res, tmp_path / "litm.png")
    if path is not None:
        assert path.stat().st_size > 1000
