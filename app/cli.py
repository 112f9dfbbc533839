"""The `longhaul` console script: the composition root that wires the stages together.

Each command lives in `app/commands/<name>.py` and imports its heavy dependencies inside the command body so
that `longhaul --help` stays instant.
"""

from __future__ import annotations

import sys

import typer

from app.commands import ask, demo, generate

cli = typer.Typer(
    name="longhaul",
    help="Answer hard questions over very long business histories, with the evidence cited.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



@cli.callback()
def _root() -> None:
    """longhaul: hybrid retrieval, position-aware packing and a long-context engine over order histories."""


for module in (ask, demo, generate):
    module.register(cli)


def main() -> None:
    """Entry point: run the CLI, turning caller errors into one clear line and a non-zero exit."""
    try:
        cli()
    except (ValueError, FileNotFoundError, PermissionError, KeyError) as exc:  # caller input, not a bug
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
