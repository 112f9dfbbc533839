"""RRF against its formula, the selector, and query analysis (synonyms, dates, ids)."""

from __future__ import annotations

import pytest

from ingest.vocab_model import Pattern, Term, Vocabulary
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


def _vocabulary() -> Vocabulary:
    """A tenant that writes orders as #NNNNN, facilities as codes with a city, carriers as codes with a name."""
    v = Vocabulary()
    for code, city in (("LEJ1", "Leipzig"), ("MAD2", "Madrid"), ("NRT1", "Tokyo")):
        v.add_term(Term("facility", code, (city, f"{city.lower()} warehouse")))
    v.add_term(Term("carrier", "SKX", ("Skyline Express", "skyline")))
    v.add_term(Term("code", "EX-77", ("SEAL_BREACH_REVIEW", "seal breach review")))
    v.add_term(Term("order", "#50123"))
    v.add_pattern(Pattern("order", r"(?<![\w#\-])\#\d{5}(?![\w\-])"))
    v.add_pattern(Pattern("sku", r"(?<![\w#\-])SKU\-[A-Z]{2}\-\d{5}(?![\w\-])"))
    v.add_pattern(Pattern("code", r"(?<![\w\-])EX\-\d{2}(?![\w\-])"))
    return v


def test_analyze_synonyms_and_dates() -> None:
    v = _vocabulary()
    a = analyze("Why was order #48291 from the Leipzig warehouse held by Skyline in March 2021?", v)
    assert a.order_ids == ["#48291"] and a.fcs == ["LEJ1"] and a.carriers == ["SKX"]
    assert (a.date_from, a.date_to) == ("2021-03-01", "2021-03-31")
    assert "LEJ1" in a.expanded_text and "SKX" in a.expanded_text
    b = analyze("refunds for order 50123 and SKU-EL-10423 during 2022 with a seal breach review, EX-91", v)
    assert b.order_ids == ["#50123"] and b.skus == ["SKU-EL-10423"]
    assert (b.date_from, b.date_to) == ("2022-01-01", "2022-12-31")
    assert b.exception_codes == ["EX-77", "EX-91"]
    c = analyze("between 2021-02-03 and 2021-02-10 at MAD2 and the Tokyo warehouse, Q2 2021", v)
    assert c.fcs == ["MAD2", "NRT1"] and (c.date_from, c.date_to) == ("2021-02-03", "2021-06-30")
    d = analyze("Which order was placed on 3 March 2019, or on March 5, 2019?", v)
    assert (d.date_from, d.date_to) == ("2019-03-03", "2019-03-05")
    assert analyze("order #48291 at the Leipzig warehouse").keys == {}  # no vocabulary: no keys
    assert analyze("hello").order_ids == [] and analyze("hello").date_from is None
