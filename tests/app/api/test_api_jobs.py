"""Reconciliation jobs with the in-process runner (no Redis): progress, results, cancel, resume, the query."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from app.api.main import create_app
from app.core.db import Database
from app.core.rows import ChunkRow, TenantRow
from app.core.settings import Settings
from app.services import jobs as J
from app.services.selections import delayed_refund_orders
from tests.helpers.server import ApiEnv, Server

OPTS = {"mode": "retrieval_only", "rerank": False, "k": 5}


def _wait(url: str, headers: dict[str, str], job_id: str, done: set[str] | None = None) -> dict:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        job = httpx.get(f"{url}/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] in (done or {"done", "failed", "cancelled"}):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_job_runs_every_item_once_and_exports_results(server: Server, api_env: ApiEnv) -> None:
    order, _ = api_env.needle
    orders = [order, "#48000", "#48007", "#48014"]
    body = {"question": "What happened to order {order}?", "orders": orders, **OPTS}
    r = httpx.post(server.url + "/v1/jobs/reconcile", json=body, headers=api_env.auth("acme:agent"))
    assert r.status_code == 202, r.text
    assert r.json()["runner"] == "in-process" and r.json()["n_items"] == 4
    job = _wait(server.url, api_env.auth("acme:agent"), r.json()["id"])
    assert job["status"] == "done" and job["counts"]["done"] == 4 and job["progress"] == 1.0
    lines = httpx.get(f"{server.url}/v1/jobs/{job['id']}/results", headers=api_env.auth("acme:agent")).text
    rows = [json.loads(x) for x in lines.splitlines()]
    assert [x["order_id"] for x in rows] == orders and all(x["attempts"] == 1 for x in rows)
    assert rows[0]["citations"] and rows[0]["answer"].startswith("Top evidence")
    table = httpx.get(f"{server.url}/v1/jobs/{job['id']}/results?format=csv", headers=api_env.auth("acme:agent"))
    assert table.headers["content-type"].startswith("text/csv")
    assert [x["order_id"] for x in csv.DictReader(io.StringIO(table.text))] == orders
    other = httpx.get(f"{server.url}/v1/jobs/{job['id']}", headers=api_env.auth("globex:agent"))
    assert other.status_code == 404


def test_cancel_then_resume_finishes_without_redoing(server: Server, api_env: ApiEnv) -> None:
    headers = api_env.auth("acme:agent")
    orders = [f"#{48000 + 7 * i}" for i in range(24)]
    r = httpx.post(server.url + "/v1/jobs/reconcile", json={"orders": orders, **OPTS}, headers=headers)
    job_id = r.json()["id"]
    cancelled = httpx.post(f"{server.url}/v1/jobs/{job_id}/cancel", headers=headers).json()
    assert cancelled["status"] == "cancelled"
    time.sleep(1.0)  # items already running finish and are kept
    counts = httpx.get(f"{server.url}/v1/jobs/{job_id}", headers=headers).json()["counts"]
    assert counts["cancelled"] > 0 and counts["pending"] == 0
    resumed = httpx.post(f"{server.url}/v1/jobs/{job_id}/resume", headers=headers).json()
    assert resumed["status"] == "running"
    job = _wait(server.url, headers, job_id, {"done"})
    assert job["counts"] == {"pending": 0, "done": 24, "failed": 0, "cancelled": 0}
    lines = httpx.get(f"{server.url}/v1/jobs/{job_id}/results", headers=headers).text.splitlines()
    assert sorted(json.loads(x)["seq"] for x in lines) == list(range(24))


def test_job_validation_problems(server: Server, api_env: ApiEnv) -> None:
    headers = api_env.auth("acme:agent")
    for body in ({"orders": ["#1"], "query": {"min_delay_days": 3}}, {}, {"orders": ["#1"], "question": "no slot"},
                 {"orders": []}, {"query": {"min_delay_days": 9999}}):
        r = httpx.post(server.url + "/v1/jobs/reconcile", json=body, headers=headers)
        assert r.status_code == 422, (body, r.text)
    assert httpx.get(f"{server.url}/v1/jobs/nope", headers=headers).status_code == 404


def test_pending_items_resume_after_a_restart(api_env: ApiEnv) -> None:
    spec = {"question": "What happened to order {order}?", "options": OPTS, "selection": {}}
    with Database.of(api_env.settings) as db, db.sessions() as s:
        job = J.create_job(s, "acme", spec, ["#48000", "#48007"])  # as if the API died right after recording it
    with TestClient(create_app(api_env.settings)) as client:
        headers = api_env.auth("acme:agent")
        deadline = time.monotonic() + 240
        while (body := client.get(f"/v1/jobs/{job.id}", headers=headers).json())["status"] != "done":
            assert time.monotonic() < deadline, body
            time.sleep(0.3)
    assert body["counts"]["done"] == 2


def test_delayed_refund_query(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    db = Database.of(settings)

    def chunk(i: int, kind: str, order: str, ts: str) -> ChunkRow:
        return ChunkRow(tenant_id="t", id=f"c{i}", doc_id="refunds/r.jsonl", source="s", text="x", sha256=f"{i}",
                        n_tokens=1, meta={"doc_type": kind, "order_ids": [order], "timestamp": ts})

    with db.sessions() as s, s.begin():
        s.add(TenantRow(id="t"))
        s.flush()
        s.add_all([chunk(1, "return", "#1", "2021-01-01T00:00:00Z"), chunk(2, "refund", "#1", "2021-01-20T00:00:00Z"),
                   chunk(3, "return", "#2", "2021-01-01T00:00:00Z"), chunk(4, "refund", "#2", "2021-01-03T00:00:00Z"),
                   chunk(5, "return", "#3", "2021-05-01T00:00:00Z"), chunk(6, "refund", "#3", "2021-06-01T00:00:00Z"),
                   chunk(7, "refund", "#4", "2021-01-30T00:00:00Z")])
    from datetime import date

    with db, db.sessions() as s:
        assert delayed_refund_orders(s, "t", 7, None, None) == ["#1", "#3"]
        assert delayed_refund_orders(s, "t", 7, date(2021, 1, 1), date(2021, 3, 1)) == ["#1"]
        assert delayed_refund_orders(s, "t", 1, None, date(2021, 1, 31)) == ["#1", "#2"]
