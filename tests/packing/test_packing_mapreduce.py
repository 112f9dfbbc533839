from __future__ import annotations

import random
import re

from packing import NOT_FOUND, Evidence, answer_with_verification, map_reduce, map_reduce_run, pack, verify
from packing.claims import cited_labels
from tests.helpers.packing import CARRIERS, blocks, last_question, refund_record


def _world(n: int, seed: int = 0) -> tuple[list[Evidence], list[dict[str, str]]]:
    rng = random.Random(seed)
    recs = [refund_record(i, rng) for i in range(n)]
    return [Evidence(f"r{i}", "refund", t, 1.0, i + 1, f["date"]) for i, (t, f) in enumerate(recs)], [
        f for _, f in recs
    ]


def _generate(prompt: str) -> str:
    """Fake model: per window, cite the block naming an order id of the question; in synthesis, join the
    partial answers."""
    if "Partial answer" in prompt:
        return " ".join(re.findall(r"^Partial answer \d+: (.*)$", prompt, flags=re.M))
    ids = re.findall(r"#\d+", last_question(prompt))
    found = [f"{text.split(':')[0]} [{lab}]." for lab, text in blocks(prompt) if any(i in text for i in ids)]
    return " ".join(found) or f"{NOT_FOUND}."


def test_packing_map_reduce_windows_fit_and_labels_resolve(tok):
    ev, facts = _world(30)
    q = f"When were orders {facts[2]['order']} and {facts[27]['order']} refunded?"
    budget = 420
    assert pack(q, ev, tok, budget).dropped  # does not fit in one prompt
    mr = map_reduce_run(q, ev, tok, budget, _generate, order="retrieval")
    assert len(mr.windows) > 2 and all(w.tokens <= budget for w in mr.windows)
    packed_ids = [pe.id for w in mr.windows for pe in w.evidence]
    assert sorted(packed_ids) == sorted(e.id for e in ev) and not mr.skipped  # each record in exactly one window
    cited = cited_labels(mr.answer)
    assert {mr.labels[lab].id for lab in cited} == {"r2", "r27"}
    assert verify(mr.answer, mr.label_texts, CARRIERS, given=q).verified
    assert map_reduce(q, ev, tok, budget, _generate, order="retrieval") == mr.answer


def test_packing_map_reduce_not_found_and_oversized(tok):
    ev, _ = _world(10)
    ev.append(Evidence("huge", "note", "parcel " * 2000, 0.1, 11))
    mr = map_reduce_run("When was order #999999 refunded?", ev, tok, 400, _generate)
    assert NOT_FOUND in mr.answer and mr.skipped == ["huge"]


def test_packing_answer_with_verification_map_reduce_overflow(tok):
    ev, facts = _world(30)
    q = f"When was order {facts[25]['order']} refunded?"
    out = answer_with_verification(q, ev, tok, 420, _generate, CARRIERS, map_reduce_overflow=True)
    assert out.verified and out.attempts[0].context == "map_reduce"
    assert [e.id for e in out.citations] == ["r25"]
