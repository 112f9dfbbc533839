"""eval/pipeline/run: corruptions change the claim; gold-in-context and verification scoring on tiny fakes (no LLM)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from eval.pipeline.run import (
    CORRUPTIONS,
    WORLD_A_CLAIMS,
    cite,
    corrupt_amount,
    corrupt_code,
    corrupt_date,
    corrupt_order_id,
    gold_in_context,
    gold_labels,
    inject_date,
    inject_order_id,
    is_correct,
    pick_per_type,
    score_answers,
    score_gold_recall,
    score_verification,
)
from packing.claims import extract_claims
from packing.verify import verify

ANSWER = "Order #60930 was refunded $408.99 on 2021-03-04 after exception EX-77."


def _values(text: str, kind: str) -> list[str]:
    return [c.value for c in extract_claims(text, WORLD_A_CLAIMS) if c.kind == kind]


@pytest.mark.parametrize("kind", ["order_id", "date", "amount", "code"])
def test_corruption_changes_exactly_its_claim(kind: str) -> None:
    bad = CORRUPTIONS[kind](ANSWER)
    assert bad is not None and bad != ANSWER
    before, after = _values(ANSWER, kind), _values(bad, kind)
    assert len(after) == len(before) == 1 and after != before
    for other in {"order_id", "date", "amount", "code"} - {kind}:
        assert _values(bad, other) == _values(ANSWER, other)


def test_corruptions_specific_values() -> None:
    assert "#60933" in (corrupt_order_id(ANSWER) or "")
    assert "2021-03-07" in (corrupt_date(ANSWER) or "")
    assert "$708.99" in (corrupt_amount(ANSWER) or "")
    assert "EX-70" in (corrupt_code(ANSWER) or "")
    assert _values(corrupt_date("Shipped on March 28, 2021.") or "", "date") == ["2021-03-25"]


def test_corruption_absent_kind_returns_none() -> None:
    assert corrupt_amount("5 days.") is None
    assert corrupt_order_id("EX-58, EX-33.") is None


def test_injections_add_a_wrong_claim_only_when_absent() -> None:
    ev = ["2017-01-16T01:46:38Z MRP MRP2500703952 #12853 DUB1 RETURN_RECEIVED"]
    q = "How many days after the return of order #12853 was received was the refund issued?"
    assert _values(inject_date("5 days.", q, ev) or "", "date") == ["2017-01-19"]
    assert _values(inject_order_id("5 days.", q, ev) or "", "order_id") == ["#12856"]
    assert inject_date(ANSWER, q, ev) is None and inject_order_id(ANSWER, q, ev) is None


def test_gold_in_context_whitespace_and_case_insensitive() -> None:
    ctx = [{"label": "E1", "text": "noise"}, {"label": "E2", "text": "Refund  of $79.28 for ORDER #12853 issued"}]
    assert gold_in_context(["refund of $79.28 for order #12853"], ctx)
    assert not gold_in_context(["refund of $79.28 for order #12853", "missing record"], ctx)
    assert gold_labels(["#12853", "noise", "issued"], ctx) == ["E2", "E1"]


def test_score_gold_recall_per_type() -> None:
    contexts = {"q1": [{"label": "E1", "text": "alpha beta"}], "q2": [{"label": "E1", "text": "gamma"}]}
    qs = [{"id": "a", "type": "t1", "question": "q1", "evidence": ["alpha"]},
          {"id": "b", "type": "t1", "question": "q2", "evidence": ["alpha"]},
          {"id": "c", "type": "t2", "question": "q2", "evidence": ["gamma"]}]
    r = score_gold_recall(qs, lambda q: contexts[q])
    assert r["gold_in_context_recall"] == pytest.approx(2 / 3, abs=1e-3)
    assert r["by_type"]["t1"] == {"rate": 0.5, "n": 2} and r["by_type"]["t2"] == {"rate": 1.0, "n": 1}
    assert r["misses"] == ["b"]


def test_score_verification_with_real_verifier() -> None:
    record = "2021-03-02T07:29:03Z SKX SKX1942057368 #48291 LEJ1 EXCEPTION EX-77 refund $1,899.00 held"
    ctx = [{"label": "E1", "text": "2020-01-01 other #11111 EX-12"}, {"label": "E2", "text": record}]
    qs = [{"id": "q", "type": "cause", "question": "Why was order #48291 held?",
           "answer": "Exception EX-77 on 2021-03-02 for order #48291, $1,899.00.", "evidence": ["EX-77 refund"]},
          {"id": "gone", "type": "cause", "question": "x?", "answer": "EX-77", "evidence": ["not packed"]}]

    def verified(answer: str, texts: Mapping[str, str], given: str) -> bool:
        return verify(answer, texts, given=given).verified

    r = score_verification(qs, lambda _q: ctx, verified)
    assert r["verify_false_flag_rate"] == 0.0 and r["n_correct"] == 1
    assert r["skipped_gold_not_packed"] == 1
    # the question's own order id is "given", so corrupting it in the answer is still caught (#48294 is nowhere)
    assert r["n_corrupted"] == 4 and r["verify_flag_rate_corrupted"] == 1.0
    assert cite("ans.", ["E2", "E1"]) == "ans. [E2, E1]"


def test_is_correct_and_score_answers() -> None:
    assert is_correct("codes ex-58 and EX-33", ["EX-58", "EX-33"])
    assert not is_correct("EX-58 only", ["EX-58", "EX-33"])
    assert is_correct("EX-33", ["EX-58", "EX-33"], "any")
    assert is_correct("5 days (2017-01-21)", ["5"]) and is_correct("It took 5.", ["5"])
    assert not is_correct("#12853 on 2017-01-15 [E5]: 4 days", ["5"])
    qs = [{"id": "a", "type": "t", "question": "qa", "accept": ["#1"], "match": "all"},
          {"id": "b", "type": "t", "question": "qb", "accept": ["#2"], "match": "all"},
          {"id": "c", "type": "u", "question": "qc", "accept": ["#3"], "match": "all"}]
    outs = {"qa": {"answer": "#1 [E1]", "verified": True, "fallback": False, "timings_ms": {"total": 10.0}},
            "qb": {"answer": "could not verify: #2", "verified": False, "fallback": True,
                   "timings_ms": {"total": 30.0}},
            "qc": {"answer": "#3", "verified": False, "fallback": False, "timings_ms": {"total": 20.0}}}
    r = score_answers(pick_per_type(qs, 2), lambda q: outs[q])
    assert r["accuracy_by_type"] == {"t": {"rate": 0.5, "n": 2}, "u": {"rate": 1.0, "n": 1}}
    assert r["verified_rate"] == pytest.approx(0.3333, abs=1e-3)
    assert r["latency_ms_median"]["total"] == 20.0
    assert [q["id"] for q in pick_per_type(qs, 1)] == ["a", "c"]
