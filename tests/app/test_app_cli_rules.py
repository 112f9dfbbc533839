"""Issue 24's smaller things, each reproduced through the real CLI: one `--tenant/-t` rule and one rerank default in
`ask`, `search` and the API; `--mode` shown as its choices; `keys list` shows the whole id `keys revoke` takes;
`plan` fits the terminal; no library progress lines on a command's output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup, TyperOption
from typer.testing import CliRunner

from app.api.schemas import AskRequest, SearchIn
from app.cli import cli
from app.services.answers import AskOptions, Pipeline
from retrieval.langchain import LonghaulRetriever
from tests.helpers.answers import CitingGenerator, SwappingSource

TENANT_COMMANDS = [["ask"], ["search"], ["ingest"], ["reindex"], ["demo"], ["vocabulary", "show"],
                   ["vocabulary", "set"], ["eval", "pipeline"], ["eval", "records"]]


def _option(path: list[str], name: str) -> TyperOption:
    command = typer.main.get_command(cli)
    for part in path:
        assert isinstance(command, TyperGroup)
        command = command.commands[part]
    return next(p for p in command.params if isinstance(p, TyperOption) and p.name == name)


@pytest.mark.parametrize("path", TENANT_COMMANDS, ids=" ".join)
def test_every_tenant_command_takes_dash_t_and_the_same_default(path: list[str]) -> None:
    option = _option(path, "tenant")
    assert set(option.opts) == {"--tenant", "-t"} and option.default is None and not option.required
    assert "LONGHAUL_DEFAULT_TENANT" in (option.help or "")


def test_the_default_tenant_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = Pipeline(llm=CitingGenerator(), retrievers=SwappingSource("v1", "v1"), max_question_chars=500)
    monkeypatch.setattr("app.services.answers.wiring.pipeline_for", lambda *_a, **_k: pipeline)
    monkeypatch.setenv("LONGHAUL_DEFAULT_TENANT", "zeta")
    runner = CliRunner()
    asked = [runner.invoke(cli, ["ask", "What was scanned for order #100231?", *flag, "--json"]) for flag in
             ([], ["-t", "acme"], ["--tenant", "acme"])]
    assert [json.loads(a.output.strip().splitlines()[-1])["tenant"] for a in asked] == ["zeta", "acme", "acme"]
    empty = runner.invoke(cli, ["ask", "q", "-t", " "])
    assert empty.exit_code != 0 and "--tenant is empty" in str(empty.exception)


def test_rerank_has_one_default_in_ask_search_the_api_and_langchain() -> None:
    default = AskOptions.model_fields["rerank"].default
    ask, search = _option(["ask"], "rerank"), _option(["search"], "rerank")
    assert ask.default is default and search.default is default
    assert {"--rerank", "--no-rerank"} <= {*ask.opts, *ask.secondary_opts, *search.opts, *search.secondary_opts}
    assert SearchIn(query="q").rerank is default and AskRequest(question="q").rerank is default
    assert LonghaulRetriever.model_fields["rerank"].default is default


def test_mode_is_shown_as_its_choices_and_a_bad_one_lists_them() -> None:
    runner = CliRunner()
    shown = runner.invoke(cli, ["ask", "--help"], env={"COLUMNS": "200"})
    assert "hybrid|long_context|retrieval_only" in shown.output
    bad = runner.invoke(cli, ["ask", "q", "--mode", "psychic"], env={"COLUMNS": "200"})
    assert bad.exit_code == 2 and "'psychic' is not one of 'hybrid', 'long_context', 'retrieval_only'" in bad.output


def test_keys_list_shows_the_whole_id_on_a_narrow_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGHAUL_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    made = json.loads(runner.invoke(cli, ["keys", "create", "-t", "acme", "--scope", "agent", "--name",
                                          "a fairly long label for the support team", "--json"]).output
                      .strip().splitlines()[-1])
    listed = runner.invoke(cli, ["keys", "list"], env={"COLUMNS": "50"})
    assert listed.exit_code == 0 and made["id"] in listed.output
    assert max(len(line) for line in listed.output.splitlines()) <= 50
    assert runner.invoke(cli, ["keys", "revoke", made["id"]]).exit_code == 0


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_plan_fits_the_terminal(columns: int) -> None:
    out = CliRunner().invoke(cli, ["plan", "--model", "llama3-70b", "--context", "1M"], env={"COLUMNS": str(columns)})
    assert out.exit_code == 0, out.output
    assert max(len(line.rstrip()) for line in out.output.splitlines()) <= columns
    for strategy in ("Full", "StreamingLLM", "SnapKV", "Ring", "Hybrid"):
        assert strategy in out.output
    assert "…" not in out.output  # nothing cut off: long cells wrap


def test_plan_is_one_table_when_the_terminal_is_wide() -> None:
    out = CliRunner().invoke(cli, ["plan", "--model", "llama3-70b"], env={"COLUMNS": "260"})
    header = next(line for line in out.output.splitlines() if "Strategy" in line)
    assert "Relative accuracy" in header


def test_commands_print_no_library_progress_lines(tmp_path: Path) -> None:
    """A real `longhaul search` in a fresh process, which loads the MiniLM embedder through transformers (whose
    "Loading weights" bar used to land on every command): stderr stays empty, stdout is the JSON alone."""
    from app.core.db import Database
    from app.core.settings import Settings
    from app.services.ingest import ingest_directory
    from tests.helpers.corpus_fixture import write_fixture_corpus
    from tests.helpers.fakes import HashEmbedder

    write_fixture_corpus(tmp_path)
    settings = Settings(data_dir=tmp_path / "data")
    with Database.of(settings) as db:  # fake vectors of the real width: the query embeds with the real model
        ingest_directory(tmp_path / "docs", "acme", settings, db.sessions, embedder=HashEmbedder())
    env = {k: v for k, v in os.environ.items() if k not in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS",
                                                            "TRANSFORMERS_VERBOSITY")}
    env.update(LONGHAUL_DATA_DIR=str(tmp_path / "data"), LONGHAUL_DEFAULT_TENANT="acme", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", LONGHAUL_THREADS="1")
    run = subprocess.run([sys.executable, "-m", "app.cli", "search", "seal breach", "--k", "2", "--json"],
                         capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[2],
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert run.stdout.count("\n") == 1 and len(json.loads(run.stdout)["hits"]) == 2
