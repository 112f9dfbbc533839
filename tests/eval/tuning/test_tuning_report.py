"""The domain eval's summary: usable context and the per-type 4K table."""

from __future__ import annotations

from eval.tuning.report import bars, lookup_accuracy, summary, usable_context


def _cell(acc: float, n: int = 10) -> dict[str, float]:
    return {"acc": acc, "n": n}


TUNED = {
    "2048": {"single_needle": _cell(1.0), "multi_key": _cell(0.8), "temporal": _cell(0.7)},
    "4096": {"single_needle": _cell(0.6), "multi_key": _cell(0.5), "cross_order": _cell(0.2)},
    "8192": {"single_needle": _cell(0.2), "multi_key": _cell(0.4)},
    "16384": {"single_needle": _cell(0.9), "multi_key": _cell(0.9)},  # a later recovery does not count
}


def test_usable_context_is_the_last_budget_before_lookup_drops_below_half() -> None:
    assert lookup_accuracy(TUNED, "4096") == 0.55
    assert usable_context(TUNED) == 4096
    assert usable_context({"2048": {"single_needle": _cell(0.1)}}) == 0


def test_summary_pairs_base_and_tuned_per_type() -> None:
    base = {"4096": {"single_needle": _cell(0.0), "temporal": _cell(0.1)}}
    s = summary({"tuned": TUNED, "base": base})
    assert s["accuracy_by_type_4k"]["single_needle"] == {"base": 0.0, "tuned": 0.6}
    assert s["accuracy_by_type_4k"]["temporal"] == {"base": 0.1, "tuned": None}
    b = bars(s)
    assert b["single_needle@4k"]["met"] is False and b["cross_order@4k"]["got"] == 0.2
    assert b["usable_context_tokens"] == {"bar": 16384, "got": 4096, "met": False}
