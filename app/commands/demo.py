"""`longhaul demo`: the main job end to end — generate a sample history, ingest it, answer the canonical question.

Second runs reuse the sample, the index (an unchanged directory embeds nothing) and the tokenizer cache.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from app.commands.options import TenantOption, tenant_or_default


def _sample(settings: Any, tenant: str, tokens: int, seed: int) -> tuple[Path, dict[str, Any]]:
    from rich.console import Console

    from app.commands.generate import token_counter
    from corpus import CorpusConfig, generate_corpus

    out = settings.data_dir / "samples" / f"{tenant}-{tokens}-{seed}"
    if (out / "stats.json").exists():
        Console().print(f"[dim]1/3 reusing the sample history in {out}[/]")
        return out, json.loads((out / "stats.json").read_text())
    counter, _ = token_counter("tokenizer")
    with Console().status(f"1/3 generating a {tokens:,}-token history in {out}"):
        stats = generate_corpus(out, CorpusConfig(tenant=tenant, tokens=tokens, seed=seed), counter)
    return out, stats


def _ingest(settings: Any, docs: Path, tenant: str) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from app.core.db import Database
    from app.services.ingest import ingest_directory

    console = Console()
    with Database.of(settings) as db, Progress(TextColumn("2/3 {task.description}"), BarColumn(),
                                               MofNCompleteColumn(), TimeRemainingColumn(), console=console) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        report = ingest_directory(docs, tenant, settings, db.sessions, progress=progress)
    state = "index unchanged, nothing embedded" if report.unchanged else f"index version {report.version}"
    console.print(f"2/3 ingested tenant {tenant!r}: {report.chunks_total:,} chunks ({state})")
    return report


def register(cli: typer.Typer) -> None:
    @cli.command()
    def demo(
        tokens: Annotated[int, typer.Option(help="Sample size in tokens (1200000: full).")] = 200_000,
        seed: Annotated[int, typer.Option(help="Seed of the sample history.")] = 0,
        tenant: TenantOption = None,
        budget: Annotated[int, typer.Option(help="Packed prompt size in tokens.")] = 3072,
        json_out: Annotated[bool, typer.Option("--json", help="The answer as JSON, last line.")] = False,
    ) -> None:
        """Generate a sample history, ingest it, and answer the canonical refund question with citations."""
        from rich.console import Console

        from app.commands.ask import print_report
        from app.core.settings import get_settings
        from app.services.answers import AskOptions, pipeline_for
        from corpus import CANONICAL_QUESTION

        settings, tenant = get_settings(), tenant_or_default(tenant)
        out, stats = _sample(settings, tenant, tokens, seed)
        Console().print(f"1/3 sample history: {stats['tokens_measured']:,} tokens, {stats['orders']:,} orders, "
                        f"{stats['questions']} planted questions (ground truth in {out / 'questions.jsonl'})")
        _ingest(settings, out / "docs", tenant)
        with Console().status("3/3 answering the canonical question (retrieve, pack, generate, verify)"):
            answer = pipeline_for(settings).ask(CANONICAL_QUESTION, tenant, AskOptions.of(budget=budget)).to_json()
        truth = next(json.loads(line) for line in (out / "questions.jsonl").read_text().splitlines()
                     if json.loads(line)["id"] == "q-canonical")
        answer["expected"] = truth["answer"]
        if json_out:
            typer.echo(json.dumps(answer))
            return
        print_report(answer, CANONICAL_QUESTION)
        Console().print(f"[dim]ground truth (from questions.jsonl):[/] {truth['answer']}")
