"""`longhaul ingest DIR --tenant T [--json]`: incremental ingest with rich progress bars."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer

from app.commands.options import TenantOption, tenant_or_default


def register(cli: typer.Typer) -> None:
    @cli.command("ingest")
    def ingest(
        directory: Path = typer.Argument(..., help="folder of .jsonl/.csv/.md/.txt/.log files (e.g. OUT/docs)"),
        tenant: TenantOption = None,
        max_tokens: int = typer.Option(256, help="max engine tokens per chunk"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object on the last line"),
        source: str | None = typer.Option(None, help="the source's name (default dir:<DIR's absolute path>); give "
                                                     "the old one after moving the folder"),
    ) -> None:
        """Ingest DIR into TENANT: only new or changed files are chunked and embedded; the index swaps atomically."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

        from app.core.db import Database
        from app.core.settings import get_settings
        from app.services.ingest import ingest_directory
        from ingest.chunker import ChunkConfig

        if not directory.is_dir():
            raise FileNotFoundError(f"{directory} is not a directory: pass the folder holding the tenant's files")
        console = Console(stderr=as_json)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        settings, tenant = get_settings(), tenant_or_default(tenant)
        with Database.of(settings) as db, Progress(*columns, console=console, transient=as_json) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            report = ingest_directory(
                directory, tenant, settings, db.sessions, chunk_config=ChunkConfig(max_tokens), progress=progress,
                source=source,
            )
        for issue in report.issues[:50]:
            console.print(f"[yellow]{issue}[/yellow]", markup=True, highlight=False)
        if len(report.issues) > 50:
            console.print(f"[yellow]... and {len(report.issues) - 50} more issues[/yellow]")
        state = "unchanged" if report.unchanged else f"live version {report.version}"
        console.print(
            f"[green]{tenant}[/green]: {state}; files new {report.files_new}, changed {report.files_changed}, "
            f"deleted {report.files_deleted}, unchanged {report.files_unchanged}; chunks {report.chunks_total}, "
            f"embedded {report.chunks_embedded}; {report.seconds.get('total', 0):.1f} s"
        )
        if as_json:
            typer.echo(json.dumps(asdict(report)))
