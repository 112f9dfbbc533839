"""The packed prompt carries the character spans of its records, question and instructions (packing/segments.py),
which a record-aware KV cache keeps or drops whole."""

from __future__ import annotations

import pickle

import pytest

from packing import SegmentedPrompt, pack, prompt_segments
from packing.prompt import ANSWER_INSTRUCTION, DEFAULT_SYSTEM
from tests.helpers.packing import make_evidence


@pytest.mark.parametrize(("order", "restate"), [("ours", True), ("retrieval", False), ("reorder", False)])
def test_packing_spans_cover_each_record_the_question_and_the_instructions(tok, order: str, restate: bool) -> None:
    q = "What happened to order #200003 in March 2021?"
    p = pack(q, make_evidence(14, seed=4, words=(5, 60)), tok, 1500, order=order, constraints=["order #200003"])
    spans = p.segments
    assert spans == prompt_segments(p.prompt) and isinstance(p.prompt, SegmentedPrompt)
    text = [p.prompt[s.start:s.end] for s in spans]
    records = [t for s, t in zip(spans, text, strict=True) if s.kind == "record"]
    assert records == [pe.rendered() for pe in p.evidence]  # every record, whole, in prompt order
    questions = [t for s, t in zip(spans, text, strict=True) if s.kind == "question"]
    assert questions == [f"Question: {q}\nConstraints: order #200003"] * (2 if restate else 1)
    assert [t for s, t in zip(spans, text, strict=True) if s.kind == "instructions"] == [DEFAULT_SYSTEM,
                                                                                        ANSWER_INSTRUCTION]
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:], strict=False))  # ordered, disjoint


def test_packing_segmented_prompt_is_still_the_plain_text() -> None:
    sp = SegmentedPrompt("abc", ())
    assert sp == "abc" and pickle.loads(pickle.dumps(sp)) == "abc" and prompt_segments("abc") == ()
