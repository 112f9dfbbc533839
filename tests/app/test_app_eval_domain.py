"""`longhaul eval domain` reports the model's table and the pipeline's domain numbers on one JSON line."""

from __future__ import annotations

import json
from pathlib import Path

from app.commands.eval_domain import pipeline_keys


def _write(path: Path, **rec: object) -> None:
    path.write_text(json.dumps(rec))


def test_pipeline_keys_take_the_newest_run_and_the_hybrid_accuracy(tmp_path: Path) -> None:
    _write(tmp_path / "pipeline_a.json", date="2026-01-01", gold_in_context_recall=0.9, verify_flag_rate_corrupted=0.8,
           verify_false_flag_rate=0.2, accuracy_by_type={"cause": 0.5})
    _write(tmp_path / "pipeline_b.json", date="2026-01-03", gold_in_context_recall=0.97,
           verify_flag_rate_corrupted=1.0, verify_false_flag_rate=0.0, answer_mode="long_context",
           accuracy_by_type={"cause": 0.0})
    _write(tmp_path / "other.json", date="2026-01-09", gold_in_context_recall=0.1)
    out = pipeline_keys(tmp_path)
    assert out["gold_in_context_recall"] == 0.97 and out["verify_false_flag_rate"] == 0.0
    assert out["pipeline_source"].endswith("pipeline_b.json")
    assert out["pipeline_accuracy_by_type"] == {"cause": 0.5}  # the hybrid run, not the long-context-only one


def test_pipeline_keys_are_empty_without_runs(tmp_path: Path) -> None:
    assert pipeline_keys(tmp_path) == {}
