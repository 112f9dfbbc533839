"""The `longhaul` console script: the composition root that wires the stages together.

Each command lives in `app/commands/<name>.py` and imports its heavy dependencies inside the command body so
that `longhaul --help` stays instant. Groups: `bench` (performance against peers), `eval` (accuracy), `train`.
"""

from __future__ import annotations

import sys

import typer

from app.commands import (
    ask,
    bench_batch,
    bench_engine,
    bench_ingest,
    bench_retrieval,
    bench_ring,
    bench_service,
    chat,
    demo,
    eval_domain,
    eval_kv,
    eval_litm,
    eval_pipeline,
    eval_records,
    generate,
    ingest,
    keys,
    plan,
    reindex,
    search,
    serve,
    train,
    train_reranker,
    vocabulary,
    worker,
)
from app.commands.bench import bench
from app.commands.evalgroup import evals

cli = typer.Typer(
    name="longhaul",
    help="Answer hard questions over very long business histories, with the evidence cited.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
trainer = typer.Typer(help="Train the domain adapter and the reranker.", no_args_is_help=True)


def _version(show: bool) -> None:
    if show:
        from importlib.metadata import version

        typer.echo(f"longhaul {version('longhaul')}")
        raise typer.Exit()


@cli.callback()
def _root(
    show_version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit."),
) -> None:
    """longhaul: hybrid retrieval, position-aware packing and a long-context engine over order histories."""
    from app.core.logs import quiet_libraries

    quiet_libraries()  # before any command imports transformers: no library progress bars on every command


for module in (demo, generate, ingest, search, ask, chat, serve, worker, keys, plan, reindex, vocabulary):
    module.register(cli)
for module in (bench_batch, bench_engine, bench_ingest, bench_retrieval, bench_ring, bench_service):
    module.register(bench)
for module in (eval_litm, eval_domain, eval_kv, eval_pipeline, eval_records):
    module.register(evals)
for module in (train, train_reranker):
    module.register(trainer)
cli.add_typer(bench, name="bench")
cli.add_typer(evals, name="eval")
cli.add_typer(trainer, name="train")


def main() -> None:
    """Entry point: run the CLI, turning caller errors into one clear line and a non-zero exit."""
    try:
        cli()
    except (ValueError, FileNotFoundError, PermissionError, KeyError) as exc:  # caller input, not a bug
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
