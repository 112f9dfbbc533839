"""`longhaul serve`: the HTTP API under uvicorn, with JSON logs."""

from __future__ import annotations

from typing import Annotated

import typer


def register(cli: typer.Typer) -> None:
    @cli.command()
    def serve(
        host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
        log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    ) -> None:
        """Serve the question, documents, jobs and admin API (settings from LONGHAUL_* variables)."""
        import uvicorn

        from app.api.main import create_app
        from app.logs import setup_logging

        setup_logging(log_level.upper())
        uvicorn.run(create_app(), host=host, port=port, log_config=None, log_level=log_level, access_log=False)
