"""`longhaul plan` through typer's CliRunner on a tiny app that registers the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from app.commands import plan

RESULTS = Path(__file__).resolve().parents[2] / "eval" / "results"


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test root"""

    plan.register(app)
    return app


def test_json_last_line_contract(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        _app(),
        [
            "plan",
            "--model",
            "llama3-70b",
            "--context",
            "1M",
            "--gpus",
            "8",
            "--kv",
            "fp8",
            "--price",
            "2",
            "--results",
            str(tmp_path),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    last = json.loads(res.output.strip().splitlines()[-1])
    assert last["context"] == 1048576 and last["gpus"] == 8 and last["kv"] == "fp8"
    assert [r["strategy"] for r in last["rows"]] == ["full", "streaming", "snapkv", "ring", "hybrid"]
    for r in last["rows"]:
        assert {
            "effective_context",
            "kv_bytes",
            "prefill_s",
            "decode_tok_s",
            "concurrent",
            "cost_per_1k",
            "accuracy",
        } <= set(r)
    acc = {r["strategy"]: r["accuracy"] for r in last["rows"]}
    assert acc["snapkv"] == acc["streaming"] == acc["hybrid"] == "not measured"  # empty results dir
    assert last["max_bytes_err_pct"] is None  # no result files: only the NOTES.md times in calibration.json
    assert last["n_validate"] == 3 and last["n_calibrate"] == 1 and last["n_excluded"] == 1  # NOTES.md rows
    assert last["max_time_err_pct"] < 20


@pytest.mark.skipif(not (RESULTS / "kv_gpu_smollm2.json").is_file(), reason="needs eval/results")
def test_validate_json_has_the_maxima() -> None:
    res = CliRunner().invoke(
        _app(),
        [
            "plan",
            "--model",
            "llama3-8b",
            "--context",
            "128K",
            "--gpus",
            "1",
            "--results",
            str(RESULTS),
            "--validate",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    last = json.loads(res.output.strip().splitlines()[-1])
    assert isinstance(last["max_time_err_pct"], float) and isinstance(last["max_bytes_err_pct"], float)
    assert last["validation"] and "predicted vs measured" in res.output
    snap = next(r for r in last["rows"] if r["strategy"] == "snapkv")
    assert "kv_gpu_smollm2.json" in snap["accuracy"]


def test_bad_model_is_a_value_error() -> None:
    res = CliRunner().invoke(_app(), ["plan", "--model", "gpt-9"])
    assert res.exit_code != 0
    assert isinstance(res.exception, ValueError) and "llama3-70b" in str(res.exception)
