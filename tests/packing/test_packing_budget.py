from __future__ import annotations

import random

import pytest

from packing import Evidence, pack
from tests.helpers.packing import make_evidence


@pytest.mark.parametrize("order", ["ours", "retrieval", "reorder"])
def test_packing_exact_budget_random_cases(tok, order):
    rng = random.Random(hash(order) % 1000)
    for case in range(25):
        ev = make_evidence(rng.randint(0, 30), seed=case, words=(1, 80))
        q = "What happened to order #200003 in March 2021?"
        base = pack(q, [], tok, 10_000, order=order, constraints=["order #200003"]).tokens
        budget = rng.randint(base, base + 1500)
        chrono = order == "ours" and case % 2 == 0
        p = pack(q, ev, tok, budget, order=order, chronological_tiers=chrono, constraints=["order #200003"])
        assert p.tokens == tok.count(p.prompt)
        assert p.tokens <= budget
        kept = [pe.id for pe in p.evidence]
        assert sorted(kept + p.dropped + list(p.duplicates)) == sorted(e.id for e in ev)
        for pe in p.evidence:  # whole records only
            assert pe.rendered() in p.prompt
        assert [pe.label for pe in p.evidence] == [f"E{i + 1}" for i in range(len(kept))]


def test_packing_budget_boundary_is_exact(tok):
    ev = make_evidence(12, seed=3)
    q = "Which carrier handled order #200001?"
    full = pack(q, ev, tok, 100_000)
    assert not full.dropped
    assert not pack(q, ev, tok, full.tokens).dropped
    tight = pack(q, ev, tok, full.tokens - 1)
    assert tight.dropped and tight.tokens <= full.tokens - 1


def test_packing_budget_too_small_for_question(tok):
    q = "Why was the refund for order #123456 delayed? " * 20
    with pytest.raises(ValueError, match="too small for the question"):
        pack(q, make_evidence(3), tok, 50)


def test_packing_bad_input(tok):
    ev = make_evidence(2)
    with pytest.raises(ValueError, match="unique"):
        pack("q?", ev + ev[:1], tok, 1000)
    with pytest.raises(ValueError, match="empty"):
        pack("  ", ev, tok, 1000)
    with pytest.raises(ValueError, match="'ours'"):
        pack("q?", ev, tok, 1000, order="sideways")
    with pytest.raises(ValueError, match="chronological_tiers"):
        pack("q?", ev, tok, 1000, order="retrieval", chronological_tiers=True)


def test_packing_drops_lowest_rank_first(tok):
    ev = [
        Evidence(f"r{i}", "note", f"Order #30000{i} was scanned at the hub and sorted.", 1.0, i + 1) for i in range(10)
    ]
    full = pack("Where is the parcel?", ev, tok, 100_000, order="retrieval")
    for budget in range(full.tokens - 200, full.tokens, 7):
        p = pack("Where is the parcel?", ev, tok, budget, order="retrieval")
        kept_ranks = sorted(pe.rank for pe in p.evidence)
        assert kept_ranks == list(range(1, len(kept_ranks) + 1))  # a rank prefix
        assert p.dropped == [f"r{i}" for i in range(len(kept_ranks), 10)]


def test_packing_skips_record_too_large_but_keeps_smaller_lower_ranked(tok):
    ev = make_evidence(6, seed=1, words=(5, 6))
    giant = Evidence("giant", "note", "warehouse " * 3000, 0.9, 2)
    ev = [e if e.rank != 2 else giant for e in ev]
    p = pack("What happened?", ev, tok, 600)
    assert "giant" in p.dropped
    assert {pe.rank for pe in p.evidence} == {1, 3, 4, 5, 6}
    assert "warehouse warehouse warehouse" not in p.prompt
