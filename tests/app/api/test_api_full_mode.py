"""The full pipeline (retrieve, pack, generate with the LLM, verify) behind POST /v1/ask on the real server."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers.server import ApiEnv, Server


@pytest.mark.slow
def test_hybrid_answer_through_the_llm(server: Server, api_env: ApiEnv) -> None:
    order, _ = api_env.needle
    body = {"question": f"Which exception code was scanned for order {order}?", "mode": "hybrid", "rerank": False,
            "budget": 512, "max_new_tokens": 16, "k": 6}
    r = httpx.post(server.url + "/v1/ask", json=body, headers=api_env.auth("acme:agent"), timeout=600)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["mode"] == "hybrid" and isinstance(out["answer"], str) and out["answer"]
    assert 0 < out["context"]["tokens"] <= 512 and "generate" in out["timings_ms"]
    assert all(c["id"] for c in out["citations"])
    metrics = httpx.get(server.url + "/metrics").text
    assert 'longhaul_tokens_total{direction="in"}' in metrics
    assert 'longhaul_pipeline_stage_seconds_count{mode="hybrid",stage="generate"}' in metrics
