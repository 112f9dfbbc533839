"""`longhaul vocabulary show|set`: what ingest learned of a tenant's ids, codes and names, and where from; and the
tenant's own profile (`vocabulary.yaml`), read before anything learned from its files at every ingest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated

import typer

from app.commands.options import TenantOption, tenant_or_default

vocabulary = typer.Typer(help="A tenant's vocabulary: show what was learned, set its profile.", no_args_is_help=True)


@vocabulary.command("show")
def show(
    kind: Annotated[str | None, typer.Option(help="Only this kind (order, sku, carrier, facility, code, ...).")] = None,
    limit: Annotated[int, typer.Option(help="Terms shown per kind (0: all).")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on the last line.")] = False,
    tenant: TenantOption = None,
) -> None:
    """Print the live index version's vocabulary: kind, value, synonyms and the file:line it was learned from."""
    from rich.console import Console
    from rich.table import Table

    from app.core.settings import get_settings
    from app.core.tenants import check_tenant, index_root
    from retrieval.index import live_dir, load_vocabulary

    tenant = tenant_or_default(tenant)
    vdir = live_dir(index_root(get_settings(), check_tenant(tenant)))
    vocab = load_vocabulary(vdir)
    rows = [r for r in vocab.describe(limit or None) if kind is None or r["kind"] == kind]
    if as_json:
        typer.echo(json.dumps({"tenant": tenant, "index_version": vdir.name, "terms": rows,
                               "problems": vocab.problems}, ensure_ascii=False))
        return
    table = Table("kind", "value", "synonyms", "learned from", title=f"{tenant} vocabulary ({vdir.name})")
    for r in rows:
        table.add_row(r["kind"], r["value"], r["synonyms"], r["source"])
    console = Console()
    console.print(table)
    for p in vocab.problems:
        console.print(f"[yellow]problem:[/] {p}")


@vocabulary.command("set")
def set_profile(
    profile: Annotated[Path, typer.Argument(help="A vocabulary.yaml (kinds -> patterns and terms).", exists=True,
                                            dir_okay=False)],
    tenant: TenantOption = None,
) -> None:
    """Keep PROFILE as the tenant's own vocabulary profile; the next ingest or reindex reads it first."""
    from app.core.settings import get_settings
    from app.core.tenants import check_tenant
    from app.services.ingest import tenant_profile
    from ingest.vocab_model import Vocabulary
    from ingest.vocab_profile import read_profile

    check = Vocabulary()
    if not read_profile(profile.parent, check, profile.name) and check.problems:
        raise typer.BadParameter("; ".join(check.problems), param_hint="PROFILE")
    tenant = tenant_or_default(tenant)
    target = tenant_profile(get_settings(), check_tenant(tenant))
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(profile, target)
    terms = len(check.terms)
    typer.echo(f"{tenant}: profile kept at {target} ({terms} terms, {len(check.patterns)} patterns"
               + (f", {len(check.problems)} problems: " + "; ".join(check.problems) if check.problems else "")
               + "); run `longhaul reindex --tenant " + tenant + "` or ingest again to apply it")


def register(cli: typer.Typer) -> None:
    cli.add_typer(vocabulary, name="vocabulary")
