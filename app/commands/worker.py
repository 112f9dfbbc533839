"""`longhaul worker`: a Celery worker running reconciliation items (needs LONGHAUL_REDIS_URL and a shared
database, e.g. PostgreSQL, when it runs on another machine)."""

from __future__ import annotations

from typing import Annotated

import typer


def run_worker(concurrency: int = 1, pool: str = "solo", name: str | None = None, log_level: str = "info") -> None:
    from app.core.logs import setup_logging
    from app.core.settings import get_settings
    from app.services.job_runners import worker_app

    setup_logging(log_level.upper())
    argv = ["worker", f"--concurrency={concurrency}", f"--pool={pool}", f"--loglevel={log_level}",
            "--without-gossip", "--without-mingle", "--without-heartbeat"]
    if name:
        argv.append(f"--hostname={name}")
    worker_app(get_settings()).worker_main(argv)


def register(cli: typer.Typer) -> None:
    @cli.command()
    def worker(
        concurrency: Annotated[int, typer.Option(help="Items run at once by this worker.", min=1)] = 1,
        pool: Annotated[str, typer.Option(help="Celery pool: solo, threads or prefork.")] = "solo",
        name: Annotated[str | None, typer.Option(help="Worker name (default: celery@host).")] = None,
        log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    ) -> None:
        """Run reconciliation job items from the Redis queue until stopped (Ctrl-C finishes the current item)."""
        run_worker(concurrency, pool, name, log_level)


if __name__ == "__main__":
    run_worker()
