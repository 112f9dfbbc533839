"""`longhaul keys create|list|revoke` through the typer app (registered the way app/cli.py will)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from app.commands import keys
from app.core.db import Database
from app.core.settings import Settings
from app.services.keys import authenticate


def test_keys_create_list_revoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGHAUL_DATA_DIR", str(tmp_path))  # read by each command: no settings cache to clear
    cli = typer.Typer()

    @cli.callback()
    def _root() -> None: ...

    keys.register(cli)
    runner = CliRunner()
    with Database.of(Settings(data_dir=tmp_path)) as db:
        out = runner.invoke(cli, ["keys", "create", "--tenant", "acme", "--scope", "agent", "--scope", "admin",
                                  "--json"])
        assert out.exit_code == 0, out.output
        made = json.loads(out.output.strip().splitlines()[-1])
        assert made["scopes"] == ["admin", "agent"] and made["key"].startswith("lh_")
        with db.sessions() as s:
            assert authenticate(s, made["key"]).tenant == "acme"
        listed = json.loads(runner.invoke(cli, ["keys", "list", "--json"]).output.strip().splitlines()[-1])
        assert [k["id"] for k in listed["keys"]] == [made["id"]] and made["key"] not in json.dumps(listed)
        assert runner.invoke(cli, ["keys", "revoke", made["id"]]).exit_code == 0
        with db.sessions() as s:
            assert authenticate(s, made["key"]) is None
        bad = runner.invoke(cli, ["keys", "create", "--tenant", "acme", "--scope", "root"])
        assert bad.exit_code != 0
