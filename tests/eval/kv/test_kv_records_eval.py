"""The record-aware policy in the KV eval: domain items carry the packer's spans in tokens, record configurations
run in the sweep, and pieces merge into the headline keys (eval/kv/records_report.py)."""

from __future__ import annotations

from engine.kv import Segment
from engine.llm import LLM
from engine.tokenizer import load_tokenizer
from eval.kv import sweep as kv
from eval.kv.domain import DomainNeedle, domain_items
from eval.kv.records_report import merge


def test_domain_items_carry_record_spans_in_tokens() -> None:
    tok = load_tokenizer()
    for it in domain_items(tok, 2, budget=1024):
        records = [s for s in it.segments if s.kind == "record"]
        assert len(records) >= 2 and all(a.end <= b.start for a, b in zip(it.segments, it.segments[1:], strict=False))
        texts = [tok.decode(it.ids[s.start:s.end]) for s in records]
        assert all(t.startswith(f"[E{i + 1}]") for i, t in enumerate(texts))  # each record from its label on
        closing = [s for s in it.segments if s.kind == "question"][-1]
        assert closing.start == len(it.context)  # the closing question is the question part's start
        assert tok.decode(it.ids[closing.start:closing.end]).startswith("Question:")


def test_records_rows_on_a_tiny_model(tiny_llm: LLM) -> None:
    blocks = [f"[E{i + 1}] Order #{20650 + i} shipped SKU-{i}.".encode() for i in range(4)]
    context = list(b"Evidence:\n" + b"\n\n".join(blocks) + b"\n\n")
    question = list(b"Question: Which order?\n")
    starts = [10 + sum(len(b) + 2 for b in blocks[:i]) for i in range(4)]
    segs = (*(Segment(a, a + len(b)) for a, b in zip(starts, blocks, strict=True)),
            Segment(len(context), len(context) + len(question), "question"))
    nd = DomainNeedle(context, question, "#20650", len(context) + len(question), 0.1, accept=("#20650",),
                      qtype="single_needle", budget=64, qid="q1", segments=segs)
    acc = kv.run(tiny_llm, items=[nd], configs=kv.parse_configs("records@2,records-agnostic@2/outside"), max_new=3,
                 stop=tiny_llm.tokenizer.eos_id)
    rows = {(r["question"], r["policy"]): r for r in acc["rows"]}
    assert set(rows) == {("inside", "full"), ("inside", "records"), ("outside", "records-agnostic")}
    assert all(r["correct_by_item"].keys() == {nd.key} for r in rows.values())
    assert rows[("inside", "records")]["kv_bytes_vs_full"] < 1.0


def test_pieces_merge_into_the_headline_keys() -> None:
    def row(policy: str, ratio: float, items: dict[str, bool], budget: int = 2048) -> dict[str, object]:
        return {"model": "tuned", "budget": budget, "question": "inside", "policy": policy, "ratio": ratio,
                "kv_dtype": "model", "correct_by_item": items}

    a = {"rows": [row("full", 1.0, {"i1": True, "i2": True}), row("records", 4.0, {"i1": True, "i2": False})]}
    b = {"rows": [row("full", 1.0, {"i3": True, "i4": False}, 4096),
                  row("records", 4.0, {"i3": True, "i4": True}, 4096)]}
    peer = [dict(row("snapkv", 4.0, {"i1": False, "i2": False, "i3": True}), budget=None),
            dict(row("chunkkv", 4.0, {"i1": True, "i2": False, "i3": False}), budget=None)]
    out = merge([a, b], peer)
    assert out["records4x_n"] == 4 and out["records4x_acc"] == 0.75 and out["full_acc"] == 0.75
    assert out["records4x_rel_acc"] == 1.0
    assert out["records4x_minus_best_kvpress"] == round(2 / 3 - 1 / 3, 3)  # on i1..i3, both presses tie at 1/3
    none = merge([a], [], "the peer venv could not be built")
    assert none["records4x_minus_best_kvpress"] is None
    assert none["records4x_minus_best_kvpress_reason"] == "the peer venv could not be built"
