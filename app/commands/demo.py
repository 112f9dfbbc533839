"""`longhaul demo`: the main job, end to end on a generated sample tenant (second runs reuse what is built)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(cli: typer.Typer) -> None:
    @cli.command()
    def demo(
        tokens: Annotated[int, typer.Option(help="Sample size in tokens (1200000: full).")] = 200_000,
        seed: Annotated[int, typer.Option(help="Seed of the sample history.")] = 0,
        tenant: Annotated[str, typer.Option(help="Tenant name of the sample.")] = "demo",
    ) -> None:
        """Generate a sample order history and report what it holds (the canonical question included)."""
        from rich.console import Console
        from rich.table import Table

        from app.commands.generate import token_counter
        from app.settings import get_settings
        from eval.corpus import CANONICAL_QUESTION, CorpusConfig, generate_corpus

        console = Console()
        settings = get_settings()
        out = settings.data_dir / "samples" / f"{tenant}-{tokens}-{seed}"
        stats_path = out / "stats.json"
        if stats_path.exists():
            stats = json.loads(stats_path.read_text())
            console.print(f"[dim]reusing the sample history in {out}[/]")
        else:
            counter, _ = token_counter("tokenizer")
            with console.status(f"generating a {tokens:,}-token history in {out}"):
                stats = generate_corpus(Path(out), CorpusConfig(tenant=tenant, tokens=tokens, seed=seed), counter)
        title = f"sample tenant {tenant!r}: {stats['tokens_measured']:,} tokens, {stats['orders']:,} orders"
        table = Table(title=title)
        table.add_column("record kind")
        table.add_column("lines", justify="right")
        for kind, n in sorted(dict(stats["lines_by_kind"]).items()):
            table.add_row(kind, f"{n:,}")
        console.print(table)
        qtable = Table(title="planted questions (ground truth in questions.jsonl)")
        qtable.add_column("type")
        qtable.add_column("count", justify="right")
        for kind, n in sorted(dict(stats["questions_by_type"]).items()):
            qtable.add_row(kind, str(n))
        console.print(qtable)
        console.print(f"[bold]canonical question:[/] {CANONICAL_QUESTION}")
