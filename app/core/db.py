"""The SQL database of record: one `Database` object per URL holds the engine (migrated by Alembic on
construction) and the session factory. Whoever builds one owns it: the API's `AppState`, a CLI command, a test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from app.core.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"
SessionFactory = sessionmaker[Session]


class Base(DeclarativeBase):
    pass


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (idempotent)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def connect(url: str) -> Engine:
    """An engine for ``url``; SQLite gets its folder, foreign keys, a busy timeout and its write-ahead log."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _fk(dbapi_conn: Any, _: Any) -> None:
            dbapi_conn.execute("PRAGMA foreign_keys=ON")
            # write-ahead log: the writer process's commits never block the API's reads (keys, jobs, documents)
            dbapi_conn.execute("PRAGMA journal_mode=WAL")

        return engine
    return create_engine(url, pool_pre_ping=True)


class Database:
    """The engine of one SQL URL, migrated on construction, and its session factory ``sessions``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = connect(url)
        migrate(self.engine)
        self.sessions: SessionFactory = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def of(cls, settings: Settings) -> Database:
        return cls(settings.sqlalchemy_url)

    def ping(self) -> bool:
        """True when the database answers a ``SELECT 1``."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - any failure means unreachable
            return False

    def close(self) -> None:
        """Close the pooled connections (the engine reconnects if used again)."""
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
