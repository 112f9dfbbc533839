"""Issue 24, bad input: a double-clicked ask and a lost connection duplicate nothing (real uvicorn, the real pipeline
over a fake engine that takes its time per token): an identical question asked while its answer is being computed
waits for that answer; an abandoned stream caches nothing and the next ask computes afresh; an oversized body is a
413 in each path's error shape, and stores nothing."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from app.api.main import create_app
from app.core.settings import Settings
from app.services.answers import Pipeline
from tests.helpers.answers import CitingGenerator, SwappingSource
from tests.helpers.live import LiveApp
from tests.helpers.sql import new_key

QUESTION = "What was scanned for order #100231?"
DELAY_S = 0.1


class Counting(CitingGenerator):
    """Counts the generations started, not only those finished."""

    def __init__(self) -> None:
        super().__init__(delay_s=DELAY_S)
        self.started = 0
        self._lock = threading.Lock()

    def generate(self, prompt: str, **kwargs: Any) -> Any:
        with self._lock:
            self.started += 1
        return super().generate(prompt, **kwargs)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[LiveApp, dict[str, str], Counting]]:
    settings = Settings(data_dir=tmp_path, max_body_bytes=4096)
    secret, _ = new_key(settings, "acme", ["agent", "admin"])
    llm = Counting()
    pipeline = Pipeline(llm=llm, retrievers=SwappingSource("v000001", "v000001"), max_question_chars=4000)
    with LiveApp(create_app(settings, pipeline=pipeline, embedder=object())) as srv:
        yield srv, {"Authorization": f"Bearer {secret}"}, llm


def _stream(url: str, headers: dict[str, str], body: dict[str, Any], path: str = "/v1/ask/stream") -> list[str]:
    with httpx.stream("POST", url + path, json=body, headers=headers, timeout=60) as r:
        assert r.status_code == 200, r.read()
        return [line for line in r.iter_lines() if line.startswith(("event: ", "data: "))]


def test_a_double_clicked_ask_is_answered_once(live: Any) -> None:
    srv, headers, llm = live
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(httpx.post, srv.url + "/v1/ask", json={"question": QUESTION}, headers=headers, timeout=60)
        time.sleep(2 * DELAY_S)
        second = pool.submit(httpx.post, srv.url + "/v1/ask", json={"question": QUESTION}, headers=headers,
                             timeout=60)
        a, b = first.result().json(), second.result().json()
    assert llm.started == 1 and a["answer"] == b["answer"] and "EX-71" in a["answer"]
    fresh = httpx.post(srv.url + "/v1/ask", json={"question": QUESTION, "use_cache": False}, headers=headers,
                       timeout=60)
    assert fresh.json()["cached"] is False and llm.started == 2  # use_cache false: a computation of its own


def test_a_double_clicked_stream_streams_one_generation(live: Any) -> None:
    srv, headers, llm = live
    body = {"question": QUESTION}
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(_stream, srv.url, headers, body)
        time.sleep(2 * DELAY_S)
        second = pool.submit(_stream, srv.url, headers, body)
        a, b = first.result(), second.result()
    assert llm.started == 1
    assert "event: token" in a and "event: token" not in b  # the second waited for the first's answer
    answers = [json.loads(lines[lines.index("event: answer") + 1][6:]) for lines in (a, b)]
    assert answers[0]["answer"] == answers[1]["answer"] and answers[1]["verified"]


def test_a_stream_joined_by_another_whose_client_hangs_up_still_answers_the_other(live: Any) -> None:
    srv, headers, llm = live
    body = {"question": QUESTION}
    with ThreadPoolExecutor(1) as pool:
        with httpx.stream("POST", srv.url + "/v1/ask/stream", json=body, headers=headers, timeout=60) as r:
            for line in r.iter_lines():
                if line.startswith("event: token"):
                    break
            second = pool.submit(_stream, srv.url, headers, body)
            time.sleep(DELAY_S)
        lines = second.result()  # the first client is gone: the second computes its own
    assert "event: answer" in lines and "event: error" not in lines
    assert llm.started == 2 and len(llm.generations) == 1


def test_a_lost_connection_mid_stream_caches_nothing(live: Any) -> None:
    srv, headers, llm = live
    body = {"model": "longhaul-hybrid", "messages": [{"role": "user", "content": QUESTION}], "stream": True}
    with httpx.stream("POST", srv.url + "/v1/chat/completions", json=body, headers=headers, timeout=60) as r:
        for line in r.iter_lines():
            if '"token"' in line:
                break
    time.sleep(12 * DELAY_S)  # longer than the rest of the draft would take
    assert llm.generations == []  # stopped at its next token
    again = httpx.post(srv.url + "/v1/ask", json={"question": QUESTION}, headers=headers, timeout=60).json()
    assert again["cached"] is False and "EX-71" in again["answer"] and len(llm.generations) == 1


def _pieces(body: bytes) -> Iterator[bytes]:
    for i in range(0, len(body), 1000):
        yield body[i:i + 1000]


@pytest.mark.parametrize("sized", [True, False], ids=["content-length", "chunked"])
def test_an_oversized_upload_is_a_413_in_each_paths_shape(live: Any, sized: bool) -> None:
    srv, headers, llm = live
    doc = json.dumps({"id": "notes/big.md", "content": "x" * 10_000}).encode()
    r = httpx.post(srv.url + "/v1/documents", content=doc if sized else _pieces(doc),
                   headers={**headers, "content-type": "application/json"}, timeout=30)
    assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 413 and "4096" in r.json()["detail"]
    assert httpx.get(srv.url + "/v1/documents", headers=headers).json()["documents"] == []
    chat = json.dumps({"model": "longhaul-hybrid", "messages": [{"role": "user", "content": "y" * 10_000}]}).encode()
    r = httpx.post(srv.url + "/v1/chat/completions", content=chat if sized else _pieces(chat),
                   headers={**headers, "content-type": "application/json"}, timeout=30)
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large" and llm.started == 0


def test_the_openai_client_sees_the_413(live: Any) -> None:
    srv, headers, _ = live
    client = openai.OpenAI(base_url=srv.url + "/v1", api_key=headers["Authorization"][7:], max_retries=0)
    with pytest.raises(openai.APIStatusError) as too_large:
        client.chat.completions.create(model="longhaul-hybrid", messages=[{"role": "user", "content": "y" * 10_000}])
    assert too_large.value.status_code == 413 and too_large.value.code == "request_too_large"
