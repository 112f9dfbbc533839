"""Issue 24, item 3: GET /v1/jobs (by state), POST /v1/search (the `longhaul search --json` contract), the `kv`
option of /v1/ask reaching the engine, and /docs and /redoc served without a CDN (ASGI app in process, fakes)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import update

from app.api.main import create_app
from app.core.db import Database
from app.core.rows import JobItemRow, JobRow
from app.core.settings import Settings
from app.services import jobs as J
from app.services.answers import Pipeline
from tests.helpers.answers import CitingGenerator, SwappingSource
from tests.helpers.sql import new_key

QUESTION = "What was scanned for order #100231?"


class KvRecorder(CitingGenerator):
    def __init__(self) -> None:
        super().__init__()
        self.kv: list[Any] = []

    def generate(self, prompt: str, **kwargs: Any) -> Any:
        self.kv.append(kwargs["kv_policy"])
        return super().generate(prompt, **kwargs)


def _app(tmp_path: Path, llm: CitingGenerator | None = None) -> tuple[Any, dict[str, str], Settings]:
    settings = Settings(data_dir=tmp_path)
    secret, _ = new_key(settings, "acme", ["agent"])
    pipeline = Pipeline(llm=llm or CitingGenerator(), retrievers=SwappingSource("v000001", "v000001"),
                        max_question_chars=4000)
    return create_app(settings, pipeline=pipeline, embedder=object()), {"Authorization": f"Bearer {secret}"}, settings


def _run(app: Any, *calls: tuple[str, str, Any, dict[str, str]]) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=60) as c:
            return [await c.request(m, url, json=body, headers=h) for m, url, body, h in calls]

    return asyncio.run(go())


def test_jobs_are_listed_newest_first_filtered_by_state_and_tenant(tmp_path: Path) -> None:
    app, h, settings = _app(tmp_path)
    spec = {"question": "Why was order {order} late?", "options": {}, "selection": {}}
    with Database.of(settings) as db, db.sessions() as s:
        done = J.create_job(s, "acme", spec, ["#1", "#2"])
        cancelled = J.create_job(s, "acme", spec, ["#3"])
        J.create_job(s, "globex", spec, ["#4"])
        s.execute(update(JobItemRow).where(JobItemRow.job_id == done.id).values(status="done"))
        s.execute(update(JobRow).where(JobRow.id == done.id).values(status="done"))
        s.commit()
        J.cancel_job(s, cancelled.id)
    every, only_done, none, bad = _run(app, ("GET", "/v1/jobs", None, h), ("GET", "/v1/jobs?state=done", None, h),
                                       ("GET", "/v1/jobs?state=running", None, h),
                                       ("GET", "/v1/jobs?state=sleeping", None, h))
    assert every.status_code == 200, every.text
    assert {j["id"] for j in every.json()["jobs"]} == {done.id, cancelled.id}  # never globex's
    assert [(j["id"], j["counts"]["done"], j["progress"]) for j in only_done.json()["jobs"]] == [(done.id, 2, 1.0)]
    assert none.json() == {"jobs": []}
    assert bad.status_code == 422 and bad.json()["status"] == 422


def test_search_returns_hits_best_first_as_the_cli_prints_them(tmp_path: Path) -> None:
    app, h, _ = _app(tmp_path)
    ok, blank, unknown = _run(app, ("POST", "/v1/search", {"query": "order #100231", "k": 2}, h),
                              ("POST", "/v1/search", {"query": "   "}, h),
                              ("POST", "/v1/search", {"query": "x", "tenant": "globex"}, h))
    assert ok.status_code == 200, ok.text
    hits = ok.json()["hits"]
    assert [set(hit) for hit in hits] == [{"id", "source", "text", "score"}] * 2
    assert hits[0]["score"] >= hits[1]["score"] and ok.json()["index_version"] == "v000001"
    assert blank.status_code == unknown.status_code == 422
    (anon,) = _run(app, ("POST", "/v1/search", {"query": "x"}, {}))
    assert anon.status_code == 401


def test_the_kv_option_reaches_the_engine_and_keys_the_cache(tmp_path: Path) -> None:
    llm = KvRecorder()
    app, h, _ = _app(tmp_path, llm)
    full, int8, again, bad = _run(app, ("POST", "/v1/ask", {"question": QUESTION}, h),
                                  ("POST", "/v1/ask", {"question": QUESTION, "kv": "int8"}, h),
                                  ("POST", "/v1/ask", {"question": QUESTION, "kv": "int8"}, h),
                                  ("POST", "/v1/ask", {"question": QUESTION, "kv": "magic@4"}, h))
    assert full.status_code == int8.status_code == 200, int8.text
    assert llm.kv[0] is None and llm.kv[1].dtype == "int8" and len(llm.kv) == 2
    assert int8.json()["cached"] is False and again.json()["cached"] is True
    assert bad.status_code == 422 and "kv" in bad.text


def test_docs_and_redoc_load_every_asset_from_the_service(tmp_path: Path) -> None:
    app, _, _ = _app(tmp_path)
    swagger, redoc = _run(app, ("GET", "/docs", None, {}), ("GET", "/redoc", None, {}))
    assert swagger.status_code == redoc.status_code == 200
    for page in (swagger.text, redoc.text):
        refs = re.findall(r"""(?:src|href)=["']([^"']+)""", page) + re.findall(r"""url: ?["']([^"']+)""", page)
        assert refs and all(r.startswith("/") for r in refs), refs
        assert "cdn" not in page and "googleapis" not in page
    assets = re.findall(r"""(?:src|href)=["'](/docs-assets/[^"']+)""", swagger.text + redoc.text)
    assert len(set(assets)) >= 4
    for r in _run(app, *(("GET", a, None, {}) for a in sorted(set(assets)))):
        assert r.status_code == 200 and len(r.content) > 1000, r.url
