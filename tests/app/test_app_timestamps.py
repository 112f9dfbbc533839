"""A record with a date alone or a time that is not one does not break the tenant's jobs (issue 20, finding 3):
ingest reports it as file:line and POST /v1/jobs/reconcile with a query answers 202, never 500."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from app.api.main import create_app
from app.core.db import Database
from app.core.settings import Settings
from app.services.documents import DocumentStore
from app.services.selections import delayed_refund_orders
from tests.app.api.test_api_schemathesis import InstantPipeline
from tests.helpers.fakes import HashEmbedder
from tests.helpers.sql import new_key

RECORDS = [("RT-1", "return", "2024-03-01", "#100201"), ("RF-1", "refund", "2024-03-20T10:00:00Z", "#100201"),
           ("RT-2", "return", "2024-03-01T09:00:00+02:00", "#100202"), ("RF-2", "refund", "last tuesday", "#100202"),
           ("RT-3", "return", "2024-03-01T09:00:00", "#100203"), ("RF-3", "refund", "2024-03-30", "#100203")]


def test_reconcile_by_query_over_bad_and_date_only_timestamps(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    lines = [json.dumps({"id": i, "type": t, "timestamp": ts, "text": f"{t} for order {o}",
                         "metadata": {"order_id": o, "status": "issued"}})
             for i, t, ts, o in RECORDS]
    with Database.of(settings) as db:
        report = DocumentStore(settings, db.sessions, HashEmbedder()).put("t", "refunds/r.jsonl", "\n".join(lines))
        assert any(i.startswith("refunds/r.jsonl:4: timestamp 'last tuesday'") for i in report.issues), report.issues
        with db.sessions() as s:
            assert delayed_refund_orders(s, "t", 7, None, None) == ["#100201", "#100203"]
    secret, _ = new_key(settings, "t", ["agent"])
    app = create_app(settings, pipeline=InstantPipeline(), embedder=HashEmbedder())
    body = {"query": {"kind": "delayed_refunds", "min_delay_days": 7, "date_from": "2024-03-01"}}

    async def post() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            return await c.post("/v1/jobs/reconcile", json=body, headers={"Authorization": f"Bearer {secret}"})

    r = asyncio.run(post())
    assert r.status_code == 202, r.text
    assert r.json()["n_items"] == 2
