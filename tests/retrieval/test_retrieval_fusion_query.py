"""RRF against its formula, the selector, and query analysis (synonyms, dates, ids)."""

from __future__ import annotations

import pytest

from retrieval.fusion import FUSION_METHODS, fuse
from retrieval.query import analyze


def test_rrf_formula() -> None:
    a, b = [(1, 9.0), (2, 8.0), (3, 7.0)], [(3, 0.9), (4, 0.8)]
    got = dict(fuse("rrf", [a, b], [1.0, 2.0], k=10))
    assert got[1] == pytest.approx(1 / 11) and got[2] == pytest.approx(1 / 12)
    assert got[3] == pytest.approx(1 / 13 + 2 / 11) and got[4] == pytest.approx(2 / 12)
    assert [r for r, _ in fuse("rrf", [a, b], [1.0, 2.0], k=10)] == [3, 4, 1, 2]


@pytest.mark.parametrize("method", sorted(FUSION_METHODS))
def test_single_list_keeps_order(method: str) -> None:
    ranking = [(7, 3.0), (5, 2.0), (9, 1.0)]
    assert [r for r, _ in fuse(method, [ranking])] == [7, 5, 9]


def test_selector_errors_list_keys() -> None:
    with pytest.raises(ValueError, match="rrf"):
        fuse("nope", [[]])
    with pytest.raises(ValueError, match="one weight per ranking"):
        fuse("rrf", [[], []], [1.0])


def test_analyze_synonyms_and_dates() -> None:
    a = analyze("Why was order #48291 from the Leipzig warehouse held by Skyline in March 2021?")
    assert a.order_ids == ["#48291"] and a.fcs == ["LEJ1"] and a.carriers == ["SKX"]
    assert (a.date_from, a.date_to) == ("2021-03-01", "2021-03-31")
    assert "LEJ1" in a.expanded_text and "SKX" in a.expanded_text
    b = analyze("refunds for order 50123 and SKU-EL-10423 during 2022 with a seal breach review, EX-91")
    assert b.order_ids == ["#50123"] and b.skus == ["SKU-EL-10423"]
    assert (b.date_from, b.date_to) == ("2022-01-01", "2022-12-31")
    assert b.exception_codes == ["EX-91", "EX-77"]
    c = analyze("between 2021-02-03 and 2021-02-10 at MAD2 and the Tokyo warehouse, Q2 2021")
    assert c.fcs == ["MAD2", "NRT1"] and (c.date_from, c.date_to) == ("2021-02-03", "2021-06-30")
    assert analyze("hello").order_ids == [] and analyze("hello").date_from is None
