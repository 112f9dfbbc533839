"""POST /v1/ask and /v1/ask/stream against a real uvicorn: answers, the cache, SSE, and problems for bad input."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.helpers.server import ApiEnv, Server


def _ask(api_env: ApiEnv, question: str, **kw: object) -> dict[str, object]:
    return {"question": question, "mode": "retrieval_only", "rerank": False, **kw}


def test_retrieval_only_answer_cites_the_planted_scan(server: Server, api_env: ApiEnv) -> None:
    order, line = api_env.needle
    body = _ask(api_env, f"Which exception code was scanned for order {order}?", use_cache=False)
    r = httpx.post(server.url + "/v1/ask", json=body, headers=api_env.auth("acme:agent"), timeout=120)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["tenant"] == "acme" and out["mode"] == "retrieval_only" and out["cached"] is False
    assert out["index_version"].startswith("v")
    assert any("EX-77" in c["text"] for c in out["citations"])
    assert r.headers["x-request-id"]


def test_second_identical_question_is_served_from_the_cache(server: Server, api_env: ApiEnv) -> None:
    body = _ask(api_env, "Which orders shipped late from LEJ1 in March 2021?")
    first = httpx.post(server.url + "/v1/ask", json=body, headers=api_env.auth("acme:agent"), timeout=120)
    second = httpx.post(server.url + "/v1/ask", json=body, headers=api_env.auth("acme:agent"), timeout=120)
    assert first.status_code == second.status_code == 200
    assert second.json()["cached"] is True
    assert second.json()["citations"] == first.json()["citations"]
    metrics = httpx.get(server.url + "/metrics").text
    assert 'longhaul_answer_cache_total{result="hit"}' in metrics


def test_stream_sends_stages_verdict_answer_citations_then_done(server: Server, api_env: ApiEnv) -> None:
    order, _ = api_env.needle
    body = _ask(api_env, f"What happened to order {order}?", use_cache=False)
    events: list[tuple[str, object]] = []
    with httpx.stream("POST", server.url + "/v1/ask/stream", json=body, headers=api_env.auth("acme:agent"),
                      timeout=120) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    names = [n for n, _ in events]
    assert names[0] == "stage" and names[-4:] == ["verdict", "answer", "citations", "done"]
    assert "token" not in names  # retrieval only: no model, no draft
    answer = dict(events)["answer"]
    assert answer["answer"].startswith("Top evidence") and dict(events)["citations"] == answer["citations"]
    assert events[-1][1]["index_version"].startswith("v")


@pytest.mark.parametrize(("content", "why"), [
    (b"{not json", "json_invalid"),
    (json.dumps({"question": "q", "k": True}).encode(), "int_type"),
    (json.dumps({"question": "q", "mode": "psychic"}).encode(), "literal_error"),
    (json.dumps({"question": ""}).encode(), "string_too_short"),
    (json.dumps({"question": "q", "tenant": "globex"}).encode(), "extra_forbidden"),
    (json.dumps({"question": "q", "k": 0}).encode(), "greater_than_equal"),
])
def test_bad_requests_are_422_problems(server: Server, api_env: ApiEnv, content: bytes, why: str) -> None:
    headers = {**api_env.auth("acme:agent"), "content-type": "application/json"}
    r = httpx.post(server.url + "/v1/ask", content=content, headers=headers)
    assert r.status_code == 422
    problem = r.json()
    assert problem["status"] == 422 and problem["errors"][0]["type"] == why
    assert "Traceback" not in r.text


def test_oversized_body_is_a_413_problem(server: Server, api_env: ApiEnv) -> None:
    headers = {**api_env.auth("acme:agent"), "content-type": "application/json"}
    r = httpx.post(server.url + "/v1/ask", content=b"x" * (9 * 2**20), headers=headers, timeout=60)
    assert r.status_code == 413 and r.json()["status"] == 413


def test_tenant_without_documents_is_a_409_problem(server: Server, api_env: ApiEnv) -> None:
    from tests.helpers.sql import new_key

    secret, _ = new_key(api_env.settings, "empty-tenant", ["agent"])
    headers = {"Authorization": f"Bearer {secret}"}
    r = httpx.post(server.url + "/v1/ask", json=_ask(api_env, "anything?"), headers=headers)
    assert r.status_code == 409 and "no documents" in r.json()["detail"]
