"""POST /v1/ask/stream against a real uvicorn (fake engine that takes its time per token): the draft's tokens
arrive while the engine is still generating, in order with the stages, then the verdict and the final answer; a
client that hangs up stops the generation."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.api.main import create_app
from app.core.settings import Settings
from app.services.answers import Pipeline
from tests.helpers.answers import CitingGenerator, SwappingSource
from tests.helpers.live import LiveApp
from tests.helpers.sql import new_key

QUESTION = "What was scanned for order #100231?"
DELAY_S = 0.15


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[LiveApp, dict[str, str], CitingGenerator]]:
    settings = Settings(data_dir=tmp_path)
    secret, _ = new_key(settings, "acme", ["agent"])
    llm = CitingGenerator(delay_s=DELAY_S)
    pipeline = Pipeline(llm=llm, retrievers=SwappingSource("v000001", "v000001"), max_question_chars=4000)
    with LiveApp(create_app(settings, pipeline=pipeline, embedder=object())) as srv:
        yield srv, {"Authorization": f"Bearer {secret}"}, llm


def _events(url: str, headers: dict[str, str], body: dict[str, Any]) -> list[tuple[float, str, Any]]:
    """(arrival time, event, data) of every event of the stream."""
    out: list[tuple[float, str, Any]] = []
    with httpx.stream("POST", url + "/v1/ask/stream", json=body, headers=headers, timeout=60) as r:
        assert r.status_code == 200, r.read()
        name = ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                out.append((time.perf_counter(), name, json.loads(line[6:])))
    return out


def test_tokens_arrive_as_they_are_generated_then_the_verdict_and_the_answer(live: Any) -> None:
    srv, headers, llm = live
    t0 = time.perf_counter()
    events = _events(srv.url, headers, {"question": QUESTION, "budget": 512, "use_cache": False})
    names = [n for _, n, _ in events]
    tokens = [(t, d) for t, n, d in events if n == "token"]
    assert len(tokens) >= 6
    answer_at = next(t for t, n, _ in events if n == "answer")
    # the first token came while the engine still had the rest to generate (DELAY_S each)
    assert answer_at - tokens[0][0] >= (len(tokens) - 2) * DELAY_S
    assert tokens[0][0] - t0 < answer_at - t0 - DELAY_S
    stages = [f"{d['stage']}:{d.get('status', '')}" for _, n, d in events if n == "stage"]
    assert stages == ["queued:", "retrieve:start", "retrieve:done", "pack:start", "pack:done", "generate:start",
                      "generate:done", "verify:start", "verify:done"]
    assert names[-4:] == ["verdict", "answer", "citations", "done"]
    assert names.index("verdict") > max(i for i, n in enumerate(names) if n == "token")
    verdict, answer, done = (d for _, n, d in events[-4:] if n in ("verdict", "answer", "done"))
    assert verdict == {"verified": True, "fallback": False, "partial": False, "withdrawn": [], "attempts": 1}
    assert answer["verified"] and "EX-71" in answer["answer"] and answer["citations"]
    assert "".join(d["text"] for _, d in tokens) == answer["attempts"][0]["answer"]
    assert all(d["draft"] for _, d in tokens) and "ttft_ms" in tokens[0][1]
    assert 0 < done["ttft_ms"] < done["timings_ms"]["total"] + 1000
    assert answer["timings_ms"]["first_token"] <= answer["timings_ms"]["total"]


def test_a_cached_answer_streams_its_verdict_and_answer_without_tokens(live: Any) -> None:
    srv, headers, _ = live
    body = {"question": QUESTION, "budget": 512}
    httpx.post(srv.url + "/v1/ask", json=body, headers=headers, timeout=60).raise_for_status()
    names = [n for _, n, _ in _events(srv.url, headers, body)]
    assert names == ["stage", "verdict", "answer", "citations", "done"]


def test_a_client_that_hangs_up_stops_the_generation(live: Any) -> None:
    srv, headers, llm = live
    with httpx.stream("POST", srv.url + "/v1/ask/stream", json={"question": QUESTION, "use_cache": False},
                      headers=headers, timeout=60) as r:
        for line in r.iter_lines():
            if line.startswith("event: token"):
                break
    time.sleep(12 * DELAY_S)  # longer than the rest of the draft would take
    assert llm.generations == []  # the generation ended at its next token, unfinished
    r = httpx.post(srv.url + "/v1/ask", json={"question": QUESTION}, headers=headers, timeout=60)
    assert r.json()["cached"] is False  # nothing half-done was cached


def test_bad_requests_are_refused_before_the_stream(live: Any) -> None:
    srv, headers, _ = live
    r = httpx.post(srv.url + "/v1/ask/stream", json={"question": "q", "kv": "nonsense@4"}, headers=headers)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    r = httpx.post(srv.url + "/v1/ask/stream", json={"question": "q"}, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401


def test_the_service_benchmark_measures_time_to_first_token(live: Any) -> None:
    from eval.bench.service import first_tokens

    srv, headers, _ = live
    out = first_tokens(srv.url, headers["Authorization"].removeprefix("Bearer "), [QUESTION], "hybrid", 2,
                       extra={"budget": 512})
    assert out["requests"] == out["with_tokens"] == 2
    assert 0 < out["client_ttft_p50_ms"] < out["total_p50_ms"] - 4 * DELAY_S * 1e3
    assert 0 < out["server_ttft_p50_ms"] <= out["client_ttft_p50_ms"] + 50
