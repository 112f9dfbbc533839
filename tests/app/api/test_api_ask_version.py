"""POST /v1/ask reads the index version once: when a swap lands between reading it and retrieving, the answer, its
cache entry and its retrieval all use the version read; the engine's token counts reach the response."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from app.api.main import create_app
from app.core.settings import Settings
from app.services.answers import AskOptions, Pipeline
from tests.helpers.answers import CountingGenerator, SwappingSource
from tests.helpers.sql import new_key

QUESTION = "What was scanned for order #100231?"


async def _post(app: Any, headers: dict[str, str], *bodies: dict[str, Any]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as c:
        return [await c.post("/v1/ask", json=b, headers=headers) for b in bodies]


def _app(tmp_path: Path, llm: CountingGenerator, source: SwappingSource) -> tuple[Any, dict[str, str]]:
    settings = Settings(data_dir=tmp_path)
    secret, _ = new_key(settings, "acme", ["agent"])
    pipeline = Pipeline(llm=llm, retrievers=source, max_question_chars=settings.max_question_chars)
    return create_app(settings, pipeline=pipeline, embedder=object()), {"Authorization": f"Bearer {secret}"}


def test_cache_entry_and_retrieval_use_the_version_read_before_a_swap(tmp_path: Path) -> None:
    source = SwappingSource("v000001", "v000002")  # the swap lands right after the route reads the version
    app, headers = _app(tmp_path, CountingGenerator(), source)
    body = {"question": QUESTION, "mode": "retrieval_only"}
    first, second = asyncio.run(_post(app, headers, body, body))
    assert first.status_code == second.status_code == 200, first.text
    assert source.retrieved == [("acme", "v000001"), ("acme", "v000002")]  # once per request, the version it read
    assert first.json()["index_version"] == "v000001" and first.json()["cached"] is False
    assert all("index v000001" in c["text"] for c in first.json()["citations"])
    cache = app.state.longhaul.cache
    options = AskOptions(mode="retrieval_only").fields()
    assert cache.get(cache.key("acme", "v000001", QUESTION, options))["index_version"] == "v000001"
    # the second request read v000002: a miss under the old version's key, answered from the new version
    assert second.json()["index_version"] == "v000002" and second.json()["cached"] is False
    assert cache.get(cache.key("acme", "v000002", QUESTION, options))["index_version"] == "v000002"


def test_the_response_reports_the_engines_token_counts(tmp_path: Path) -> None:
    llm = CountingGenerator(n_generated=5)
    app, headers = _app(tmp_path, llm, SwappingSource())
    (r,) = asyncio.run(_post(app, headers, {"question": QUESTION, "budget": 512, "max_new_tokens": 8}))
    assert r.status_code == 200, r.text
    usage = r.json()["usage"]
    assert usage["prompt_tokens"] == sum(g.prompt_tokens for g in llm.generations) > 0
    assert usage["generated_tokens"] == 5 * len(llm.generations) > 0
    assert usage["kv_bytes"] == max(llm.kv_bytes_for(g.prompt_tokens + 5) for g in llm.generations)
    metrics = app.state.longhaul.metrics.render().decode()
    assert f'longhaul_tokens_total{{direction="out"}} {float(usage["generated_tokens"])}' in metrics
