"""`longhaul search QUERY [-t T] [--k N] [--rerank] [--json]`: hybrid retrieval over the tenant's live index."""

from __future__ import annotations

import json

import typer

from app.commands.options import RERANK_DEFAULT, RerankOption, TenantOption, tenant_or_default


def register(cli: typer.Typer) -> None:
    @cli.command("search")
    def search(
        query: str = typer.Argument(..., help="the question or keywords"),
        tenant: TenantOption = None,
        k: int = typer.Option(10, "--k", min=1, max=1000, help="number of hits"),
        rerank: RerankOption = RERANK_DEFAULT,
        as_json: bool = typer.Option(False, "--json", help="print one JSON object on the last line"),
    ) -> None:
        """Print the best chunks for QUERY, best first."""
        from rich.console import Console
        from rich.table import Table

        from app.core.settings import get_settings
        from app.services.retrievers import RetrieverCache

        if not query.strip():
            raise ValueError("the query is empty: pass some words to search for")
        hits = RetrieverCache(get_settings()).live(tenant_or_default(tenant)).search(query, k=k, rerank=rerank)
        if as_json:
            payload = [{"id": h.id, "source": h.source, "text": h.text, "score": h.score} for h in hits]
            typer.echo(json.dumps({"hits": payload}, ensure_ascii=False))
            return
        table = Table("#", "score", "source", "text")
        for i, h in enumerate(hits, start=1):
            table.add_row(str(i), f"{h.score:.4f}", h.source, h.text[:160].replace("\n", " | "))
        Console().print(table)
