"""The same storage on a real PostgreSQL: migrations, ingest, incremental re-ingest (needs the server)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from app.core.db import Database
from app.core.rows import ChunkRow, IndexVersionRow
from app.core.settings import Settings
from app.services.ingest import ingest_directory
from tests.helpers.corpus_fixture import write_fixture_corpus
from tests.helpers.fakes import HashEmbedder

ADMIN_URL = os.environ.get("LONGHAUL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DB_NAME = "longhaul_ingest_test"


def _pg_url() -> str:
    try:
        engine = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": DB_NAME}).first() is None:
                conn.execute(text(f"CREATE DATABASE {DB_NAME}"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no server"
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {ADMIN_URL} is required under CI=true: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {ADMIN_URL}: {exc}")
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{DB_NAME}"


@pytest.mark.services
def test_postgres_ingest_and_reingest(tmp_path: Path) -> None:
    url = _pg_url()
    write_fixture_corpus(tmp_path, n_orders=20)
    tenant = f"pg{os.getpid()}"
    settings = Settings(data_dir=tmp_path / "data", database_url=url)
    emb = HashEmbedder()
    db = Database(url)
    first = ingest_directory(tmp_path / "docs", tenant, settings, db.sessions, embedder=emb)
    again = ingest_directory(tmp_path / "docs", tenant, settings, db.sessions, embedder=emb)
    assert again.unchanged and emb.embedded == first.chunks_embedded
    with db, db.sessions() as s:
        n = len(list(s.scalars(select(ChunkRow).where(ChunkRow.tenant_id == tenant))))
        versions = list(s.scalars(select(IndexVersionRow).where(IndexVersionRow.tenant_id == tenant)))
        assert n == first.chunks_total and [v.status for v in versions] == ["live"]
        row = s.scalars(select(ChunkRow).where(ChunkRow.tenant_id == tenant, ChunkRow.doc_id.like("scans/%"))).first()
        assert row is not None and row.meta["doc_type"] == "scan"
        s.execute(text("DELETE FROM tenants WHERE id = :t"), {"t": tenant})  # cascades
        s.commit()
        assert s.scalars(select(ChunkRow).where(ChunkRow.tenant_id == tenant)).first() is None
