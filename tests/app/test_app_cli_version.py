"""`longhaul --version`."""

from __future__ import annotations

from typer.testing import CliRunner

from app.cli import cli


def test_version() -> None:
    from importlib.metadata import version

    out = CliRunner().invoke(cli, ["--version"])
    assert out.exit_code == 0 and out.output.strip() == f"longhaul {version('longhaul')}"
