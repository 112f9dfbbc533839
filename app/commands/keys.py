"""`longhaul keys create|list|revoke`: API keys bound to a tenant with scopes (stored hashed)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

keys = typer.Typer(help="Manage API keys (each bound to one tenant; scopes agent and/or admin).",
                   no_args_is_help=True)


@keys.command("create")
def create(
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="Tenant the key may read and write (never implied).")],
    scope: Annotated[list[str], typer.Option(help="agent (ask, jobs) or admin (documents, reindex); repeatable.")],
    name: Annotated[str, typer.Option(help="A label to recognise the key by.")] = "",
    json_out: Annotated[bool, typer.Option("--json", help="JSON on the last line.")] = False,
) -> None:
    """Create a key and print its secret once (only a hash is stored)."""
    from app.core.db import Database
    from app.core.settings import get_settings
    from app.services.keys import create_key

    with Database.of(get_settings()) as db, db.sessions() as s:
        secret, info = create_key(s, tenant, scope, name)
    if json_out:
        typer.echo(json.dumps({"id": info.id, "key": secret, "tenant": info.tenant, "scopes": info.scopes}))
    else:
        typer.echo(f"key {info.id} for tenant {info.tenant} ({' '.join(info.scopes)}): {secret}")
        typer.echo("store it now: it cannot be shown again.")


@keys.command("list")
def list_(
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="Only this tenant's keys.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="JSON on the last line.")] = False,
) -> None:
    """List keys (id, prefix, tenant, scopes, revoked), never their secrets."""
    from rich.console import Console
    from rich.table import Table

    from app.core.db import Database
    from app.core.settings import get_settings
    from app.services.keys import list_keys

    with Database.of(get_settings()) as db, db.sessions() as s:
        rows = list_keys(s, tenant)
    if json_out:
        typer.echo(json.dumps({"keys": [{"id": k.id, "prefix": k.prefix, "tenant": k.tenant, "scopes": k.scopes,
                                         "name": k.name, "created_at": k.created_at.isoformat(),
                                         "revoked": k.revoked} for k in rows]}))
        return
    table = Table(caption="revoke with `longhaul keys revoke ID`")
    id_width = max((len(k.id) for k in rows), default=2)
    table.add_column("id", no_wrap=True, min_width=id_width)  # whole on any width: `keys revoke` takes it as shown
    for col in ("prefix", "tenant", "scopes", "name", "created", "revoked"):
        table.add_column(col, overflow="fold")
    for k in rows:
        table.add_row(k.id, k.prefix + "…", k.tenant, " ".join(k.scopes), k.name, f"{k.created_at:%Y-%m-%d %H:%M}",
                      "yes" if k.revoked else "")
    Console().print(table)


@keys.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id (from `keys list`).")]) -> None:
    """Revoke a key at once; requests with it then get 401."""
    from app.core.db import Database
    from app.core.settings import get_settings
    from app.services.keys import revoke_key

    with Database.of(get_settings()) as db, db.sessions() as s:
        revoked = revoke_key(s, key_id)
    if not revoked:
        raise KeyError(f"no API key with id {key_id!r}: see `longhaul keys list`")
    typer.echo(f"revoked {key_id}")


def register(cli: typer.Typer) -> None:
    cli.add_typer(keys, name="keys")
