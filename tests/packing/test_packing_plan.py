"""Question planning: which clauses are parts, what a list/count/exists part lists, what "the same" carries."""

from __future__ import annotations

import pytest

from packing.plan import plan


def test_a_lookup_then_an_exists_question_are_two_parts() -> None:
    parts = plan("Why was the refund for order 84976 delayed in March 2021, and did the same carrier pattern "
                 "appear for similar high-value electronics returns in 2023?")
    assert [p.kind for p in parts] == ["lookup", "exists"]
    assert parts[0].text == "Why was the refund for order 84976 delayed in March 2021?"
    assert parts[1].target == "order" and parts[1].inherits == ("carrier", "code") and parts[1].high_value


@pytest.mark.parametrize(("question", "kind", "target"), [
    ("Which orders shipped with Atlas Post in 2021 recorded code HOLD-SEC?", "list", "order"),
    ("How many shipments from the Leipzig hub were held in 2022?", "count", "shipment"),
    ("Which exception codes did the carrier record on the shipment of order 84976?", "list", "code"),
    ("What was the declared value of EL-PHN-X12 in order 84976?", "lookup", None),
    ("Which version of the returns policy was in effect on 2021-03-04?", "lookup", None),
])
def test_one_clause(question: str, kind: str, target: str | None) -> None:
    (part,) = plan(question)
    assert (part.kind, part.target) == (kind, target)


def test_lookup_clauses_stay_together() -> None:
    """"...and what window did it set?" needs the first clause to know what "it" is."""
    q = "Which version of the refund policy was in effect on 2020-08-18, and what refund window did it set?"
    assert [p.text for p in plan(q)] == [q]


def test_the_listed_noun_is_the_last_one_before_the_verb() -> None:
    """"Which Quillrun Couriers shipments ..." lists shipments, not couriers."""
    (part,) = plan("Which Quillrun Couriers shipments were delayed in February 2021, and how many were there?")
    assert (part.kind, part.target) == ("list", "shipment")


def test_a_statement_before_the_question_is_its_context() -> None:
    (part,) = plan("A customer says they bought the EL-PHN-X12. Which order was that?")
    assert (part.kind, part.target) == ("list", "order") and part.text.startswith("A customer says")
    (part,) = plan("Orders 84976, 84977 and 84978 were all late. Which two were held up by the same problem?")
    assert part.kind == "same"  # which of the named orders share a code: from the records
