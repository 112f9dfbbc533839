"""The bounded engine queue: when full, 429 with Retry-After; never a 5xx or an unbounded wait."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from app.api.main import create_app
from app.core.settings import Settings
from app.services.admission import EngineQueue, QueueFull
from app.services.answers import Answer
from app.services.keys import RateLimiter
from tests.helpers.fakes import OneVersion
from tests.helpers.sql import new_key


class SlowPipeline:
    retrievers = OneVersion()

    def ask(self, question: str, tenant: str, options: object, *, version: str) -> Answer:
        time.sleep(0.3)
        return Answer(question, tenant, "retrieval_only", "ok", False, True, [], [], 0, {"retrieve": 300.0},
                      index_version=version)


def _app(tmp_path: Path) -> tuple[object, dict[str, str]]:
    settings = Settings(data_dir=tmp_path)
    root = settings.tenant_dir("acme") / "index"
    (root / "v000001").mkdir(parents=True)
    (root / "LIVE").write_text("v000001")
    secret, _ = new_key(settings, "acme", ["agent"])
    app = create_app(settings, pipeline=SlowPipeline(), embedder=object())
    state = app.state.longhaul
    state.queues["retrieval"] = EngineQueue("retrieval", workers=1, max_waiting=2, max_wait_s=5)
    return app, {"Authorization": f"Bearer {secret}"}


async def _burst(app: object, headers: dict[str, str], n: int) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as c:
        reqs = [c.post("/v1/ask", json={"question": f"q{i}", "mode": "retrieval_only"}, headers=headers)
                for i in range(n)]
        return list(await asyncio.gather(*reqs))


def test_full_queue_answers_429_with_retry_after(tmp_path: Path) -> None:
    app, headers = _app(tmp_path)
    responses = asyncio.run(_burst(app, headers, 10))
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) == 3 and codes.count(429) == 7, codes
    refused = next(r for r in responses if r.status_code == 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["status"] == 429 and "queue is full" in refused.json()["detail"]


def test_rate_limit_per_key_is_429(tmp_path: Path) -> None:
    app, headers = _app(tmp_path)
    app.state.longhaul.limiter = RateLimiter(60, burst=2)
    responses = asyncio.run(_burst(app, headers, 4))
    limited = [r for r in responses if r.status_code == 429 and "rate limit" in r.json()["detail"]]
    assert len(limited) == 2 and limited[0].headers["retry-after"] == "1"


def test_queue_refuses_requests_that_waited_too_long() -> None:
    async def main() -> list[object]:
        q = EngineQueue("t", workers=1, max_waiting=5, max_wait_s=0.1)
        futs = [q.submit(time.sleep, 0.3) for _ in range(3)]
        return await asyncio.gather(*futs, return_exceptions=True)

    results = asyncio.run(main())
    assert results[0] is None
    assert all(isinstance(r, QueueFull) for r in results[1:])
    with pytest.raises(ValueError, match="workers"):
        EngineQueue("bad", workers=0, max_waiting=1)
