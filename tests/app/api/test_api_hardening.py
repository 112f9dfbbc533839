"""Issue 20, finding 5: the smaller defects, each reproduced (ASGI app in process, fast doubles for the stages)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.api import deps
from app.api.main import create_app
from app.core.settings import Settings
from app.core.tenants import docs_dir
from app.services.answers import Answer, AskOptions
from tests.app.api.test_api_schemathesis import InstantPipeline
from tests.helpers.fakes import HashEmbedder
from tests.helpers.sql import new_key


class CrashingPipeline(InstantPipeline):
    def ask(self, question: str, tenant: str, options: AskOptions | None = None, *, version: str) -> Answer:
        raise RuntimeError("a bug")


class BrokerDown:
    kind = "celery"

    def dispatch(self, item_ids: list[int]) -> None:
        raise ConnectionError("redis is down")


def _app(tmp_path: Path, scopes: list[str], pipeline: Any = None, **settings: Any) -> tuple[Any, dict[str, str]]:
    s = Settings(data_dir=tmp_path, **settings)
    (s.tenant_dir("t") / "index" / "v000001").mkdir(parents=True)
    (s.tenant_dir("t") / "index" / "LIVE").write_text("v000001")
    secret, _ = new_key(s, "t", scopes)
    app = create_app(s, pipeline=pipeline or InstantPipeline(), embedder=HashEmbedder())
    return app, {"Authorization": f"Bearer {secret}"}


def _run(app: Any, *calls: tuple[str, str, Any, dict[str, str]]) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=60) as c:
            return [await c.request(m, url, json=body, headers=h) for m, url, body, h in calls]

    return asyncio.run(go())


def test_a_document_id_colliding_with_a_folder_is_422(tmp_path: Path) -> None:
    app, h = _app(tmp_path, ["admin"])
    doc = {"content": "# A\n\nOrder #100200 shipped.\n"}
    rs = _run(app, ("POST", "/v1/documents", {"id": "dir.md", **doc}, h),
              ("POST", "/v1/documents", {"id": "dir.md/x.md", **doc}, h),
              ("POST", "/v1/documents", {"id": "sub/y.md", **doc}, h),
              ("POST", "/v1/documents", {"id": "sub", **doc}, h),
              ("POST", "/v1/documents", {"id": "sub.md/z.md", **doc}, h),
              ("POST", "/v1/documents", {"id": "sub.md", **doc}, h))
    assert [r.status_code for r in rs] == [201, 422, 201, 422, 201, 422], [r.text for r in rs]
    assert "dir.md" in rs[1].json()["detail"] and "folder" in rs[5].json()["detail"]
    store = docs_dir(Settings(data_dir=tmp_path), "t")
    assert not [p for p in store.rglob("*") if p.name.endswith(".tmp")]
    assert not any((store / ".incoming").iterdir())


def test_reconcile_with_the_queue_down_names_the_recorded_job(tmp_path: Path) -> None:
    app, h = _app(tmp_path, ["agent"])
    app.state.longhaul.jobs = BrokerDown()
    (r,) = _run(app, ("POST", "/v1/jobs/reconcile", {"orders": ["#1", "#2"]}, h))
    assert r.status_code == 503, r.text
    detail, where = r.json()["detail"], r.headers["Location"]
    job_id = where.rsplit("/", 1)[1]
    assert "{id}" not in detail and f"POST /v1/jobs/{job_id}/resume" in detail
    (job,) = _run(app, ("GET", where, None, h))
    assert job.status_code == 200 and job.json()["id"] == job_id


def test_a_500_carries_the_request_id(tmp_path: Path) -> None:
    app, h = _app(tmp_path, ["agent"], CrashingPipeline())
    ask = {"question": "What happened to order #1?", "mode": "retrieval_only", "use_cache": False}
    mine, theirs = _run(app, ("POST", "/v1/ask", ask, h), ("POST", "/v1/ask", ask, {**h, "X-Request-ID": "abc-1"}))
    for r in (mine, theirs):
        assert r.status_code == 500 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["request_id"] == r.headers["X-Request-ID"] != "-"
    assert theirs.json()["request_id"] == "abc-1"


def test_405_names_every_method_of_the_path(tmp_path: Path) -> None:
    app, h = _app(tmp_path, ["admin"])
    doc, docs = _run(app, ("OPTIONS", "/v1/documents/a.md", None, h), ("PUT", "/v1/documents", None, h))
    assert doc.status_code == 405 and doc.headers["Allow"] == "DELETE, GET"
    assert docs.status_code == 405 and docs.headers["Allow"] == "GET, POST"  # the list and the upload


def test_failed_authentication_is_throttled_before_the_database(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    app, h = _app(tmp_path, ["agent"], auth_failures_per_minute=60)
    looked_up = []
    real = deps._authenticate
    monkeypatch.setattr(deps, "_authenticate", lambda state, secret: looked_up.append(secret) or real(state, secret))
    bad = [("GET", "/v1/jobs/x", None, {"Authorization": f"Bearer lh_{uuid.uuid4().hex}"}) for _ in range(40)]
    rs = _run(app, *bad)
    codes = [r.status_code for r in rs]
    assert codes[:10] == [401] * 10 and set(codes[12:]) == {429}, codes
    assert len(looked_up) <= 12 and int(rs[-1].headers["Retry-After"]) >= 1
