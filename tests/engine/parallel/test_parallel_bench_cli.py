"""`longhaul bench ring --device cpu --json` prints the exactness numbers as JSON on its last line."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from app.commands.bench_ring import register


def test_bench_ring_cpu_json() -> None:
    bench = typer.Typer()
    register(bench)

    @bench.callback()
    def _root() -> None:
        """A group, so that `ring` is a subcommand as in `longhaul bench ring`."""

    result = CliRunner().invoke(bench, ["ring", "--device", "cpu", "--world-sizes", "2", "--length", "23", "--json"])
    assert result.exit_code == 0, result.output
    res = json.loads(result.output.strip().splitlines()[-1])
    assert res["world_sizes"] == [2]
    assert res["ring_max_abs_diff"] <= 1e-5
