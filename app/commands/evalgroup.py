"""The `longhaul eval` group: accuracy evals on generated tenants; each prints JSON on its last line."""

from __future__ import annotations

import typer

evals = typer.Typer(help="Accuracy evals (JSON last line with --json).", no_args_is_help=True)
