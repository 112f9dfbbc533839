"""Jobs on real servers: uvicorn + two Celery worker processes over a private Redis, state in PostgreSQL.
One worker is killed (SIGKILL) mid-job: the job still completes with every item recorded exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from app.core.settings import Settings
from tests.helpers.server import ROOT, ApiEnv, Server, service_skip
from tests.helpers.sql import new_key

PG_ADMIN = os.environ.get("LONGHAUL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_url() -> Iterator[str]:
    name = f"longhaul_api_jobs_{os.getpid()}"
    try:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {name}"))
    except Exception as exc:  # noqa: BLE001 - no server
        service_skip("PostgreSQL", exc)
    yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def _worker(name: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    code = f"from app.commands.worker import run_worker; run_worker(name={name!r})"
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env},
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)


def _broker_state(url: str) -> dict[str, object]:
    import redis

    r = redis.Redis.from_url(url)
    return {"queue": r.llen("celery"), "unacked": r.zrange("unacked_index", 0, -1, withscores=True),
            "mutex": r.get("unacked_mutex"), "keys": r.keys("*")}


def _open_items(url: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, status, attempts, worker, error FROM job_items WHERE status != 'done'"))
        out = [tuple(r) for r in rows]
    engine.dispose()
    return out


def _finished_items(log: Path) -> list[int]:
    out = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"item_finished"' in line:
            out.append(json.loads(line)["item"])
    return out


@pytest.mark.services
@pytest.mark.slow
def test_killed_worker_mid_job_loses_no_item_and_repeats_none(api_env: ApiEnv, pg_url: str, redis_proc: object,
                                                              tmp_path: Path) -> None:
    redis_url = f"redis://127.0.0.1:{redis_proc.port}/1"  # type: ignore[attr-defined]
    settings = Settings(data_dir=api_env.data_dir, database_url=pg_url)
    secret, _ = new_key(settings, "acme", ["agent"])
    headers = {"Authorization": f"Bearer {secret}"}
    env = api_env.env(LONGHAUL_DATABASE_URL=pg_url, LONGHAUL_REDIS_URL=redis_url,
                      LONGHAUL_JOB_VISIBILITY_TIMEOUT_S="6")
    logs = [tmp_path / "w1.log", tmp_path / "w2.log"]
    workers = [_worker(f"w{i + 1}@test", env, log) for i, log in enumerate(logs)]
    try:
        with Server(env, tmp_path / "api.log") as srv:
            orders = [f"#{48000 + 7 * i}" for i in range(24)]
            body = {"orders": orders, "mode": "retrieval_only", "rerank": False, "k": 5}
            r = httpx.post(srv.url + "/v1/jobs/reconcile", json=body, headers=headers)
            assert r.status_code == 202, r.text
            assert r.json()["runner"] == "celery"
            job_id = r.json()["id"]
            deadline = time.monotonic() + 240
            while len(_finished_items(logs[0])) < 2:
                assert time.monotonic() < deadline and workers[0].poll() is None, logs[0].read_text()[-3000:]
                time.sleep(0.05)
            workers[0].send_signal(signal.SIGKILL)  # mid-job: it holds an unacked item
            workers[0].wait(10)
            deadline = time.monotonic() + 120
            while (job := httpx.get(f"{srv.url}/v1/jobs/{job_id}", headers=headers).json())["status"] != "done":
                assert time.monotonic() < deadline, (job, _broker_state(redis_url), _open_items(pg_url),
                                                     logs[0].read_text()[-1500:], logs[1].read_text()[-1500:])
                time.sleep(0.5)
            assert job["counts"] == {"pending": 0, "done": 24, "failed": 0, "cancelled": 0}
            rows = [json.loads(x) for x in httpx.get(f"{srv.url}/v1/jobs/{job_id}/results", headers=headers)
                    .text.splitlines()]
            assert [x["order_id"] for x in rows] == orders and all(x["status"] == "done" for x in rows)
    finally:
        for w in workers:
            if w.poll() is None:
                w.terminate()
                try:
                    w.wait(15)
                except subprocess.TimeoutExpired:
                    w.kill()
                    w.wait(5)
    finished = Counter(_finished_items(logs[0]) + _finished_items(logs[1]))
    assert len(finished) == 24 and set(finished.values()) == {1}, finished
    assert _finished_items(logs[1]), "the surviving worker finished the job"
