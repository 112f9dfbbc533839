"""The tuning data builder: answers cite the right labels, held-out seeds stay out, prompts fit their budget."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from eval.tuning.data import EVAL_SEED_MIN, TuneDataConfig, build, corpus_examples, read_examples
from eval.tuning.select import constraints_of
from eval.tuning.targets import (
    PARAPHRASES,
    TRAIN_REWORDINGS,
    is_correct,
    paraphrase,
    target_answer,
    training_rewording,
)


class CharTokenizer:
    """Three characters a token: fast, deterministic, enough for packing under a budget."""

    def count(self, text: str) -> int:
        return len(text) // 3 + 1

    def chat(self, messages: Sequence[dict[str, str]], add_generation_prompt: bool = True) -> str:
        parts = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages]
        return "".join(parts) + ("<|im_start|>assistant\n" if add_generation_prompt else "")


TOK = CharTokenizer()


@pytest.fixture(scope="module")
def train_rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    cfg = TuneDataConfig(seeds=(3,), questions_per_type=1, budgets={1024: 0.5, 2048: 0.5}, negatives=0.0,
                         reworded=0.5)
    out = tmp_path_factory.mktemp("tune") / "train.jsonl.xz"
    stats = build(cfg, TOK, out)
    rows = read_examples(out)
    assert stats["examples"] == len(rows) > 0
    return rows


def _evidence_block(prompt: str, label: str) -> str:
    m = re.search(rf"\[{label}\] (.*?)(?=\n\n\[E\d+\] |\n\nQuestion: )", prompt, re.S)
    assert m, f"label {label} not in prompt"
    return m.group(1)


def test_answers_cite_labels_that_hold_the_evidence(train_rows: list[dict[str, object]]) -> None:
    for r in train_rows:
        cited = set(re.findall(r"\[(E\d+)\]", str(r["target"])))
        assert cited, r["target"]
        assert cited <= set(r["gold_labels"]), (r["type"], r["target"], r["gold_labels"])  # type: ignore[arg-type]
        blocks = " ".join(_evidence_block(str(r["prompt"]), lab) for lab in cited)
        for a in r["accept"]:  # type: ignore[attr-defined]
            if not str(a).isdigit():  # counts and day differences are derived, the rest is quoted
                assert str(a) in blocks, (r["type"], a)


def test_targets_score_as_correct(train_rows: list[dict[str, object]]) -> None:
    for r in train_rows:
        assert is_correct(str(r["target"]), r["accept"], str(r["match"]), str(r["type"])), r["target"]  # type: ignore[arg-type]


def test_prompts_fit_their_budget_and_restate_constraints(train_rows: list[dict[str, object]]) -> None:
    for r in train_rows:
        assert TOK.count(str(r["prompt"])) == r["tokens"] <= r["budget"]  # type: ignore[operator]
        for c in constraints_of(str(r["question"])):
            assert str(r["prompt"]).count(c) >= 2  # before and after the evidence


def test_training_data_has_no_held_out_seed_or_eval_only_item(train_rows: list[dict[str, object]]) -> None:
    assert all(int(r["seed"]) < EVAL_SEED_MIN for r in train_rows)  # type: ignore[call-overload]
    assert not [r for r in train_rows if r["type"] == "paraphrase" or r["paraphrased"]]
    with pytest.raises(ValueError, match="held out"):
        TuneDataConfig(seeds=(1, EVAL_SEED_MIN + 2))
    with pytest.raises(ValueError, match=">= 9000"):
        TuneDataConfig(split="eval", seeds=(5,))


def test_eval_split_asks_reworded_questions_never_seen_in_training(tmp_path: Path,
                                                                   train_rows: list[dict[str, object]]) -> None:
    cfg = TuneDataConfig(split="eval", seeds=(EVAL_SEED_MIN,), questions_per_type=1, budgets={1024: 1.0},
                         paraphrased_budgets=(1024,), types=("single_needle", "temporal"))
    rows = list(corpus_examples(EVAL_SEED_MIN, cfg, TOK, tmp_path))
    para = [r for r in rows if r["paraphrased"]]
    assert para and {r["type"] for r in rows} <= {"single_needle", "temporal"}
    trained_questions = {str(r["question"]) for r in train_rows}
    assert not trained_questions & {str(r["question"]) for r in para}
    assert all(not str(r["question"]).startswith(("Which order contained", "How many days")) for r in para)


def test_scorer_needs_numbers_to_stand_alone() -> None:
    assert not is_correct("received 2021-03-08, refunded 2021-03-16", ["8"], "all", "temporal")
    assert is_correct("16 - 8 = 8 days.", ["8"], "all", "temporal")
    assert not is_correct("order #41758", ["4"], "all", "aggregation")
    assert is_correct("held: 4 shipments.", ["4"], "all", "aggregation")
    assert is_correct("EX-12 and EX-21", ["EX-12", "EX-99"], "any")
    assert not is_correct("EX-12 and EX-21", ["EX-12", "EX-99"], "all")
    with pytest.raises(ValueError, match="match must be"):
        is_correct("x", ["x"], "some")


def test_temporal_target_writes_the_month_boundary_arithmetic() -> None:
    q = {"type": "temporal", "question": "How many days after the return of order #12345 was received was the "
         "refund issued?", "answer": "5 days (received 2021-02-26, refunded 2021-03-03).", "accept": ["5"]}
    gold = {"E2": "2021-02-26T10:00:00Z SKX X #12345 LEJ1 RETURN_RECEIVED",
            "E7": "Refund of $9.00 for order #12345 issued on 2021-03-03; processed after inspection."}
    t = target_answer(q, gold)
    assert "2021-02-26 [E2]" in t and "2021-03-03 [E7]" in t and "28 - 26 + 3 = 5 days" in t


def test_constraints_match_the_pipeline(tmp_path: Path) -> None:
    """On world a's kind of data the pipeline's constraints (from the learned vocabulary) are the tuning data's."""
    from app.services.answers import constraints_of as pipeline_constraints
    from ingest.vocabulary import learn_vocabulary
    from tests.ingest.tenants import tenant_a

    vocab = learn_vocabulary(tenant_a(tmp_path))
    q = "Was order #48291 refunded between 2021-03-01 and 2021-03-31?"
    assert constraints_of(q) == pipeline_constraints(q, vocab)


def test_paraphrase_rewrites_only_known_templates() -> None:
    assert paraphrase("Which order contained the SKU SKU-EL-12345?", "single_needle") == (
        "In which order was item SKU-EL-12345 shipped?")
    assert paraphrase("Something else?", "single_needle") is None


def test_training_rewordings_differ_from_the_eval_paraphrases() -> None:
    q = "How many days after the return of order #48291 was received was the refund issued?"
    eval_para = paraphrase(q, "temporal")
    train = {training_rewording(q, "temporal", k) for k in range(4)}
    assert len(train) == 2 and None not in train and eval_para not in train
    assert all("#48291" in str(t) for t in train)
    for qtype, (pattern, _) in TRAIN_REWORDINGS.items():
        assert pattern == PARAPHRASES[qtype][0]  # same template, other wordings
        assert set(TRAIN_REWORDINGS[qtype][1]).isdisjoint({PARAPHRASES[qtype][1]})
    assert training_rewording("Something else?", "temporal", 0) is None


def test_hard_types_are_repeated_and_some_questions_reworded(train_rows: list[dict[str, object]]) -> None:
    by_qid: dict[str, int] = {}
    for r in train_rows:
        by_qid[str(r["qid"])] = by_qid.get(str(r["qid"]), 0) + 1
    temporal = [q for q, r in {str(r["qid"]): r for r in train_rows}.items() if r["type"] == "temporal"]
    assert temporal and max(by_qid[q] for q in temporal) > 1
    assert any(r.get("reworded") for r in train_rows)


def test_spread_moves_the_gold_off_the_first_record(tmp_path: Path) -> None:
    def first_share(spread: float) -> float:
        cfg = TuneDataConfig(seeds=(4,), questions_per_type=2, budgets={2048: 1.0}, negatives=0.0, spread=spread,
                             types=("single_needle", "multi_key"))
        rows = list(corpus_examples(4, cfg, TOK, tmp_path / str(spread)))
        assert rows
        return sum(r["gold_labels"] == ["E1"] for r in rows) / len(rows)

    assert first_share(1.0) < first_share(0.0)
    with pytest.raises(ValueError, match="spread"):
        TuneDataConfig(spread=1.5)


def test_cross_order_target_names_the_carrier_code_and_scans_in_prompt_order() -> None:
    q = {"type": "cross_order", "question": "Which orders shipped with Kestrel Logistics in 2017 recorded exception "
         "EX-83 (SCAN_GAP_LOST)?", "accept": ["#62929", "#27126", "#73876"]}
    gold = {"E1": "2017-07-03 KST KST1 #62929 HUB-DUB EXCEPTION EX-83", "E19": "2017-08-05 KST KST2 #27126 EX-83",
            "E2": "2017-09-09 KST KST3 #73876 HUB-MAD EXCEPTION EX-83"}
    t = target_answer(q, gold)
    assert t == ("Kestrel Logistics scans as KST. The KST records of 2017 with EX-83 are orders #62929 [E1], "
                 "#73876 [E2] and #27126 [E19].")
    assert is_correct(t, q["accept"], "all", "cross_order")
    with pytest.raises(ValueError, match="none of the gold"):
        target_answer(q, {"E1": gold["E1"]})
