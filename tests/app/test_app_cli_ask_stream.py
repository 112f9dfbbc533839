"""`longhaul ask` streams the draft to the terminal as it is generated, then the verdict and the report; with
--json it prints only the JSON (fake engine and records)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.services.answers import Pipeline
from tests.helpers.answers import CitingGenerator, CountingGenerator, SwappingSource

QUESTION = "What was scanned for order #100231?"


def _fake(monkeypatch: pytest.MonkeyPatch, llm: CountingGenerator) -> None:
    pipeline = Pipeline(llm=llm, retrievers=SwappingSource("v1", "v1"), max_question_chars=500)
    monkeypatch.setattr("app.services.answers.wiring.pipeline_for", lambda *_a, **_k: pipeline)


def test_ask_prints_the_draft_then_the_verdict_then_the_report(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, CitingGenerator())
    out = CliRunner().invoke(cli, ["ask", QUESTION, "--tenant", "acme", "--budget", "512"])
    assert out.exit_code == 0, out.output
    text = out.output
    draft, verdict, report = text.index("draft:"), text.index("verdict: verified"), text.index("answer (")
    assert draft < text.index("EX-71") < verdict < report


def test_ask_names_what_verification_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, CountingGenerator())
    out = CliRunner().invoke(cli, ["ask", QUESTION, "--tenant", "acme", "--budget", "512"])
    assert out.exit_code == 0, out.output
    assert "draft (again, on a narrower context):" in out.output
    assert "not verified" in out.output and "#999999" in out.output.split("verdict:")[1]


def test_ask_json_prints_one_json_object_and_no_draft(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, CitingGenerator())
    out = CliRunner().invoke(cli, ["ask", QUESTION, "--tenant", "acme", "--budget", "512", "--json"])
    assert out.exit_code == 0, out.output
    assert "draft" not in out.output
    answer: dict[str, Any] = json.loads(out.output.strip().splitlines()[-1])
    assert answer["verified"] and answer["timings_ms"]["first_token"] > 0
