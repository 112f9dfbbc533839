"""`longhaul vocabulary show|set`: what was learned and from where; a profile kept for the next ingest, its
problems named by file and line, and the next ingest reads it first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.core.db import Database
from app.core.settings import Settings
from app.services.ingest import ingest_directory
from tests.helpers.fakes import HashEmbedder
from tests.ingest.tenants import tenant_b


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("LONGHAUL_DATA_DIR", str(tmp_path / "data"))
    return Settings(data_dir=tmp_path / "data")


def test_show_lists_what_was_learned_and_set_is_read_by_the_next_ingest(tmp_path: Path, settings: Settings) -> None:
    docs = tenant_b(tmp_path / "b")
    runner = CliRunner()
    profile = tmp_path / "vocabulary.yaml"
    profile.write_text("carrier:\n  terms:\n    ATP: [the yellow vans]\n  patterns: ['.*']\n")
    out = runner.invoke(cli, ["vocabulary", "set", str(profile), "--tenant", "tb"])
    assert out.exit_code == 0, out.output
    assert "vocabulary.yaml:4" in out.output and "matches everything" in out.output  # the bad line, named
    with Database.of(settings) as db:
        ingest_directory(docs, "tb", settings, db.sessions, embedder=HashEmbedder())
    out = runner.invoke(cli, ["vocabulary", "show", "--tenant", "tb", "--kind", "carrier", "--json"])
    assert out.exit_code == 0, out.output
    rows = {r["value"]: r for r in json.loads(out.output.strip().splitlines()[-1])["terms"]}
    assert "the yellow vans" in rows["ATP"]["synonyms"] and "Atlas Post" in rows["ATP"]["synonyms"]
    assert rows["NFX"]["source"].startswith("reference/carriers.csv:")

