"""The answer cache on a real Redis (a private redis-server on a free port): hits, invalidation by index version,
and answers that continue, uncached, when Redis is stopped mid-run."""

from __future__ import annotations

import subprocess
import time

import httpx
import pytest

from app.services.cache import AnswerCache
from tests.helpers.server import ApiEnv, Server, free_port

ASK = {"question": "Which orders were delivered by SKX in January 2021?", "mode": "retrieval_only", "rerank": False}


@pytest.mark.services
def test_cache_hits_then_redis_dies_and_answers_continue(api_env: ApiEnv, redis_proc: subprocess.Popen[bytes],
                                                         tmp_path_factory: pytest.TempPathFactory) -> None:
    url = f"redis://127.0.0.1:{redis_proc.port}/3"  # type: ignore[attr-defined]
    log = tmp_path_factory.mktemp("srv") / "uvicorn.log"
    with Server(api_env.env(LONGHAUL_REDIS_URL=url), log) as srv:
        headers = api_env.auth("acme:agent")
        assert httpx.get(srv.url + "/readyz").json()["checks"]["redis"] is True
        first = httpx.post(srv.url + "/v1/ask", json=ASK, headers=headers, timeout=120)
        second = httpx.post(srv.url + "/v1/ask", json=ASK, headers=headers, timeout=120)
        assert first.status_code == second.status_code == 200
        assert second.json()["cached"] is True
        version = first.json()["index_version"]
        keys = AnswerCache(url).ping() and __import__("redis").Redis.from_url(url).keys("*")
        assert any(f":acme:{version}:".encode() in k for k in keys)

        redis_proc.terminate()
        redis_proc.wait(10)
        codes = []
        for i in range(5):
            r = httpx.post(srv.url + "/v1/ask", json={**ASK, "question": f"{ASK['question']} ({i})"},
                           headers=headers, timeout=120)
            codes.append(r.status_code)
            assert r.status_code != 200 or r.json()["cached"] is False
        assert codes == [200] * 5
        ready = httpx.get(srv.url + "/readyz").json()
        assert ready["status"] == "degraded" and ready["checks"]["redis"] is False


def test_key_includes_tenant_and_live_version() -> None:
    cache = AnswerCache(None)
    a = cache.key("acme", "v000001", "q", {"mode": "hybrid"})
    assert a != cache.key("acme", "v000002", "q", {"mode": "hybrid"})
    assert a != cache.key("globex", "v000001", "q", {"mode": "hybrid"})
    assert a != cache.key("acme", "v000001", "q", {"mode": "retrieval_only"})
    cache.set(a, {"answer": "x"})
    assert cache.get(a) == {"answer": "x"}


def test_unreachable_redis_is_a_miss_not_an_error() -> None:
    cache = AnswerCache(f"redis://127.0.0.1:{free_port()}/0")
    t = time.perf_counter()
    assert cache.get("k") is None
    cache.set("k", {"a": 1})
    assert cache.get("k") is None and cache.ping() is False
    assert time.perf_counter() - t < 2.0
