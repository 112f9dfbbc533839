"""The `longhaul bench` group: performance benchmarks against peers; each prints JSON on its last line."""

from __future__ import annotations

import typer

bench = typer.Typer(help="Performance benchmarks against peers (JSON last line with --json).", no_args_is_help=True)
