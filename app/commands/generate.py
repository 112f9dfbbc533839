"""`longhaul generate`: write a synthetic order history with planted facts and ground-truth questions."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

log = logging.getLogger(__name__)


def token_counter(kind: str) -> tuple[Callable[[list[str]], int], str]:
    """``tokenizer``: the SmolLM2 tokenizer (exact); ``estimate``: characters / 2 (no model package needed)."""
    from corpus import estimate_tokens

    if kind == "estimate":
        return estimate_tokens, "estimate (chars/2)"
    if kind != "tokenizer":
        raise ValueError(f"--count must be one of ['tokenizer', 'estimate'], got {kind!r}")
    from engine.tokenizer import load_tokenizer

    tok = load_tokenizer()

    def count(lines: list[str]) -> int:
        return sum(len(e.ids) for e in tok.backend.encode_batch(lines, add_special_tokens=False)) + len(lines)

    return count, "SmolLM2 tokenizer"


def register(cli: typer.Typer) -> None:
    @cli.command()
    def generate(
        out: Annotated[Path, typer.Option(help="Output directory (docs/, questions.jsonl, stats.json).")],
        tenant: Annotated[str, typer.Option(help="Tenant name recorded in stats.json.")] = "demo",
        tokens: Annotated[int, typer.Option(help="Target size in SmolLM2 tokens.")] = 200_000,
        seed: Annotated[int, typer.Option(help="Random seed; one seed gives byte-identical output.")] = 0,
        depth: Annotated[float | None, typer.Option(help="Planted facts at this position, 0..1.")] = None,
        questions_per_type: Annotated[int, typer.Option(help="Planted questions per question type.")] = 4,
        count: Annotated[str, typer.Option(help="Token counting: tokenizer (exact) or estimate.")] = "tokenizer",
        world: Annotated[str, typer.Option(help="a: the demo's vocabulary; b: another tenant's codes, names, "
                                                 "layout and log formats.")] = "a",
        json_out: Annotated[bool, typer.Option("--json", help="Statistics as JSON, last line.")] = False,
    ) -> None:
        """Generate a multi-year e-commerce history (orders, scans, notes, returns, refunds, policies) with ground
        truth; ``--world b`` writes another tenant's vocabulary and layout."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from corpus import WORLD_MONTHS, CorpusConfig, generate_corpus
        from corpus.writer import prepare_output

        cfg = CorpusConfig(tenant=tenant, tokens=tokens, seed=seed, depth=depth,
                           questions_per_type=questions_per_type, world=world)
        prepare_output(out)
        counter, counter_name = token_counter(count)
        console = Console(stderr=True)
        with Progress(TextColumn("[bold]generating[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[tokens]:,} tokens"), TimeElapsedColumn(), console=console,
                      disable=json_out) as bar:
            task = bar.add_task("months", total=WORLD_MONTHS[world], tokens=0)
            stats = generate_corpus(out, cfg, counter,
                                    progress=lambda m, t: bar.update(task, completed=m + 1, tokens=t))
        stats["token_counter"] = counter_name
        if json_out:
            typer.echo(json.dumps(stats))
            return
        console = Console()
        console.print(f"[green]wrote[/] {out}/docs ({stats['bytes']:,} bytes), {out}/questions.jsonl")
        console.print(f"tokens: {stats['tokens_measured']:,} measured with the {counter_name} "
                      f"(target {tokens:,}); orders: {stats['orders']:,}; questions: {stats['questions']}")
