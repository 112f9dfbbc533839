"""`longhaul reindex --tenant T [--to vN] [--reembed] [--json]`: rebuild the live index, or make a kept one live."""

from __future__ import annotations

import json

import typer

from app.commands.options import TenantOption, tenant_or_default


def register(cli: typer.Typer) -> None:
    @cli.command("reindex")
    def reindex(
        tenant: TenantOption = None,
        to: str | None = typer.Option(None, "--to", help="make this kept version live again (e.g. v000003)"),
        reembed: bool = typer.Option(False, help="re-embed every chunk (else reuse the stored vectors)"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object on the last line"),
    ) -> None:
        """Rebuild TENANT's live index version (the old one serves until the swap), or roll back with --to."""
        from app.core.db import Database
        from app.core.settings import get_settings
        from app.core.tenants import index_root
        from app.services.documents import DocumentStore, reindex_status
        from app.services.versions import rollback
        from retrieval.index import versions

        settings, tenant = get_settings(), tenant_or_default(tenant)
        with Database.of(settings) as db:
            if to is not None:
                try:
                    previous = rollback(settings, db.sessions, tenant, to)
                except LookupError as exc:
                    raise ValueError(str(exc)) from exc
                out = {"tenant": tenant, "index_version": to, "previous": previous, "status": "live"}
            else:
                store = DocumentStore(settings, db.sessions)
                with db.sessions() as s:
                    try:
                        row_id = store.start_reindex(s, tenant, reembed)
                    except LookupError as exc:
                        raise ValueError(str(exc)) from exc
                store.run_reindex(tenant, row_id)
                with db.sessions() as s:
                    row = reindex_status(s, tenant, row_id)
                    assert row is not None, "the reindex row was recorded above"
                    out = {"tenant": tenant, "index_version": row.version, "status": row.status,
                           "detail": row.detail}
        kept = versions(index_root(settings, tenant))
        typer.echo(json.dumps({**out, "kept": kept}) if as_json else
                   f"{tenant}: {out['index_version']} {out['status']}; kept {', '.join(kept)}")
        if out["status"] != "live":
            raise typer.Exit(1)
