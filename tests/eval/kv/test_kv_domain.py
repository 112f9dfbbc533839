"""The KV eval's domain lookups: prompts from held-out corpora with the gold inside, is_correct scoring, the CLI."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from app.commands import eval_kv
from engine.llm import LLM
from engine.tokenizer import load_tokenizer
from eval.kv import sweep as kv
from eval.kv.domain import DomainNeedle, domain_items
from eval.tuning.targets import is_correct


def test_domain_items_hold_the_gold_at_their_placement() -> None:
    tok = load_tokenizer()
    items = domain_items(tok, 3, budget=1024, placements=("pipeline", "0.5", "0.9"))
    assert [it.placement for it in items] == ["pipeline", "0.5", "0.9"]
    for it in items:
        assert it.seed >= 9000 and it.task == "domain" and it.n_tokens <= 1024
        context, question = tok.decode(it.context), tok.decode(it.question)
        assert any(a in context for a in it.accept)  # the gold fact is in the compressed part of the prompt
        assert question.startswith("Question:") and question.rstrip().endswith("assistant")
        assert it.gold_in_compressed_part and it.meta()["gold_depth"] == round(it.depth, 3)
    pipeline, mid, end = (it.depth for it in items)
    assert pipeline < 0.15 < 0.3 < mid < 0.7 and end > max(0.6, mid + 0.1)  # records are whole: depth is coarse
    with pytest.raises(ValueError, match="9000"):
        domain_items(tok, 1, seed=12)


def test_domain_scoring_is_the_tuning_scorer() -> None:
    nd = DomainNeedle([1], [2], "252.51", 2, 0.5, accept=("252.51",), match="all", qtype="multi_key", budget=1024)
    for text in ("The declared value was $252.51 [E1].", "It was 252.5", "not found in the evidence", "1252.51"):
        assert nd.correct(text) == is_correct(text, ["252.51"], "all", "multi_key")
    assert nd.correct("was $252.51") and not nd.correct("was $25.51")
    assert nd.cell == "1024@0.5"


def test_domain_rows_on_a_tiny_model(tiny_llm: LLM) -> None:
    context = list(b"Evidence:\n[E1] Order #20650 shipped SKU-1.\n[E2] Order #11111 shipped SKU-2.\n\n")
    question = list(b"Question: Which order?\n")  # byte ids: the tiny model's vocabulary is small
    nd = DomainNeedle(context, question, "#20650", len(context) + len(question), 0.1, accept=("#20650",),
                      qtype="single_needle", budget=64)
    acc = kv.run(tiny_llm, items=[nd], configs=kv.parse_configs("snapkv@4,snapkv@4/outside,int8"), max_new=3,
                 stop=tiny_llm.tokenizer.eos_id)
    rows = {(r["question"], r["policy"], r["kv_dtype"]): r for r in acc["rows"]}
    assert set(rows) == {("inside", "full", "model"), ("inside", "snapkv", "model"), ("outside", "snapkv", "model"),
                         ("inside", "full", "int8")}
    assert all(r["task"] == "domain" and r["n"] == 1 for r in rows.values())
    assert list(rows[("inside", "full", "model")]["correct_by_len_depth"]) == ["64@0.1"]


def test_configs_and_cli_options_parse() -> None:
    got = [(w, s.policy and (s.policy.name, s.policy.ratio, s.policy.when), s.dtype)
           for w, s in kv.parse_configs("snapkv@4, h2o@2/outside, snapkv@8:int8, int4")]
    assert got == [("inside", ("snapkv", 4.0, "end"), "model"), ("outside", ("h2o", 2.0, "chunks"), "model"),
                   ("inside", ("snapkv", 8.0, "end"), "int8"), ("inside", None, "int4")]
    with pytest.raises(ValueError, match="policy@ratio"):
        kv.parse_configs("snapkv@four")
    assert eval_kv.parse_tasks("passkey,domain") == ("passkey", "domain")
    with pytest.raises(ValueError, match="choose from passkey, domain"):
        eval_kv.parse_tasks("ruler")
    assert eval_kv.parse_models("both") == [("tuned", "auto"), ("base", None)]
    assert eval_kv.parse_models("base") == [("base", None)] and eval_kv.parse_models("/m.gguf") == [("/m.gguf", None)]
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test root"""

    group = typer.Typer()
    eval_kv.register(group)
    app.add_typer(group, name="eval")
    res = CliRunner().invoke(app, ["eval", "kv", "--help"], terminal_width=200)
    assert res.exit_code == 0 and "--tasks" in res.output and "--model" in res.output
    res = CliRunner().invoke(app, ["eval", "kv", "--task", "ruler", "--out", ""])
    assert isinstance(res.exception, ValueError) and "choose from" in str(res.exception)
