"""Shared fixtures: two tenants ingested once per session and a real uvicorn serving them on a free port."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest

from app.core.db import Database
from app.core.settings import Settings
from app.core.tenants import docs_dir
from app.services.documents import DocumentStore
from retrieval.embed import Embedder
from tests.helpers.corpus_fixture import write_fixture_corpus
from tests.helpers.server import GLOBEX_SECRET, ApiEnv, Server, redis_server
from tests.helpers.sql import new_key


@pytest.fixture(scope="session")
def api_env(tmp_path_factory: pytest.TempPathFactory) -> ApiEnv:
    base = tmp_path_factory.mktemp("api")
    facts = write_fixture_corpus(base / "corpus", n_orders=24)
    settings = Settings(data_dir=base / "data")
    with Database.of(settings) as db:
        store = DocumentStore(settings, db.sessions, embedder=Embedder())
        shutil.copytree(base / "corpus" / "docs", docs_dir(settings, "acme"))
        store._ingest("acme")
        store.put("globex", "notes/vault.md", f"# Globex vault\n\n{GLOBEX_SECRET}\n")
    keys = {f"{t}:{s}": new_key(settings, t, [s], name=f"test {t} {s}")[0]
            for t in ("acme", "globex") for s in ("agent", "admin")}
    return ApiEnv(settings, base / "data", keys, facts["needle"])


@pytest.fixture(scope="session")
def server(api_env: ApiEnv) -> Iterator[Server]:
    with Server(api_env.env(), api_env.data_dir / "uvicorn.log") as srv:
        yield srv


@pytest.fixture
def redis_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[subprocess.Popen[bytes]]:
    proc = redis_server(str(tmp_path_factory.mktemp("redis")))
    yield proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(10)
