"""Issue 24, item 4: the official `openai` client against a real uvicorn serving the OpenAI-compatible endpoints
(the real pipeline over a fake engine and fake records): models, a completion and a streamed one with their
citations, usage and errors in OpenAI's shape."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from app.api.main import create_app
from app.core.settings import Settings
from app.services.admission import QueueFull
from app.services.answers import Pipeline
from tests.helpers.answers import CitingGenerator, SwappingSource
from tests.helpers.live import LiveApp
from tests.helpers.sql import new_key

QUESTION = "What was scanned for order #100231?"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveApp, str, Any]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("openai"))
    secret, _ = new_key(settings, "acme", ["agent"])
    pipeline = Pipeline(llm=CitingGenerator(delay_s=0.01), retrievers=SwappingSource("v000001", "v000001"),
                        max_question_chars=4000)
    app = create_app(settings, pipeline=pipeline, embedder=object())
    with LiveApp(app) as srv:
        yield srv, secret, app


def _client(srv: LiveApp, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.url + "/v1", api_key=key, max_retries=0, timeout=60)


def _messages(question: str = QUESTION) -> list[Any]:
    return [{"role": "system", "content": "You are a support agent's assistant."},
            {"role": "user", "content": "an earlier question"}, {"role": "assistant", "content": "an answer"},
            {"role": "user", "content": question}]


def test_models_are_the_answer_modes(live: Any) -> None:
    srv, key, _ = live
    ids = [m.id for m in _client(srv, key).models.list()]
    assert ids == ["longhaul-hybrid", "longhaul-long_context", "longhaul-retrieval_only"]
    assert _client(srv, key).models.retrieve("longhaul-hybrid").owned_by == "longhaul"


def test_a_completion_answers_the_last_user_message_with_its_citations(live: Any) -> None:
    srv, key, _ = live
    done = _client(srv, key).chat.completions.create(model="longhaul-hybrid", messages=_messages(), max_tokens=64,
                                                     temperature=0.2, extra_body={"longhaul": {"use_cache": False}})
    content = done.choices[0].message.content or ""
    assert "EX-71" in content and "[E" in content and done.choices[0].finish_reason == "stop"
    extra = done.model_extra["longhaul"] if done.model_extra else {}
    assert extra["verified"] is True and extra["withdrawn"] == [] and extra["evidence"]
    (cite,) = extra["citations"]
    assert f"[{cite['label']}]" in content and "#100231" in cite["text"]
    assert done.usage and done.usage.prompt_tokens > 0 and done.usage.completion_tokens > 0
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens


def test_a_streamed_completion_sends_chunks_then_done(live: Any) -> None:
    srv, key, _ = live
    chunks = list(_client(srv, key).chat.completions.create(
        model="longhaul-hybrid", messages=_messages(), stream=True, stream_options={"include_usage": True},
        extra_body={"longhaul": {"use_cache": False}}))
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "EX-71" in content and "[E" in content
    extras = [c.model_extra["longhaul"] for c in chunks if c.model_extra and "longhaul" in c.model_extra]
    events = [e["event"] for e in extras]
    assert events.index("token") < events.index("verdict") < events.index("answer")
    draft = "".join(e["text"] for e in extras if e["event"] == "token")
    assert draft == content  # verified as drafted: the content is the draft
    answer = next(e for e in extras if e["event"] == "answer")
    assert answer["verified"] and answer["citations"][0]["label"] in content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage and chunks[-1].usage.completion_tokens > 0


def test_the_stream_ends_with_done(live: Any) -> None:
    srv, key, _ = live
    body = {"model": "longhaul-retrieval_only", "messages": [{"role": "user", "content": QUESTION}], "stream": True}
    with httpx.stream("POST", srv.url + "/v1/chat/completions", json=body,
                      headers={"Authorization": f"Bearer {key}"}, timeout=60) as r:
        lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert content.startswith("Top evidence")


def test_errors_come_in_openais_shape(live: Any) -> None:
    srv, key, _ = live
    with pytest.raises(openai.AuthenticationError) as bad_key:
        _client(srv, "lh_not_a_key").chat.completions.create(model="longhaul-hybrid", messages=_messages())
    assert bad_key.value.status_code == 401 and bad_key.value.code == "invalid_api_key"
    with pytest.raises(openai.NotFoundError) as no_model:
        _client(srv, key).chat.completions.create(model="gpt-4o", messages=_messages())
    assert no_model.value.code == "model_not_found" and "longhaul-hybrid" in no_model.value.message
    with pytest.raises(openai.BadRequestError) as no_question:
        _client(srv, key).chat.completions.create(model="longhaul-hybrid",
                                                  messages=[{"role": "system", "content": "hi"}])
    assert "user message" in no_question.value.message
    with pytest.raises(openai.BadRequestError) as bad_option:
        _client(srv, key).chat.completions.create(model="longhaul-hybrid", messages=_messages(),
                                                  extra_body={"longhaul": {"k": 0}})
    assert bad_option.value.param == "longhaul.k"
    r = httpx.post(srv.url + "/v1/chat/completions", content=b"{not json",
                   headers={"Authorization": f"Bearer {key}", "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_a_full_queue_is_a_rate_limit_error(live: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    srv, key, app = live

    def full(*_: Any) -> asyncio.Future[Any]:
        raise QueueFull("generate", 3)

    monkeypatch.setattr(app.state.longhaul.queues["generate"], "submit", full)
    with pytest.raises(openai.RateLimitError) as busy:
        _client(srv, key).chat.completions.create(model="longhaul-hybrid", messages=_messages(),
                                                  extra_body={"longhaul": {"use_cache": False}})
    assert busy.value.response.headers["retry-after"] == "3"
    assert busy.value.code == "rate_limit_exceeded"


@pytest.mark.slow
def test_the_real_engine_streams_a_draft_through_the_openai_client(server: Any, api_env: Any) -> None:
    """End to end on the bundled model (loads it: ~30-60 s on a 2-core CPU): tokens as chunks, then the answer."""
    order, _ = api_env.needle
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=api_env.keys["acme:agent"], max_retries=0,
                           timeout=600)
    chunks = list(client.chat.completions.create(
        model="longhaul-hybrid", messages=[{"role": "user", "content": f"What happened to order {order}?"}],
        stream=True, max_tokens=48, extra_body={"longhaul": {"use_cache": False, "budget": 1024}}))
    extras = [c.model_extra["longhaul"] for c in chunks if c.model_extra and "longhaul" in c.model_extra]
    events = [e["event"] for e in extras]
    assert "token" in events and events.index("token") < events.index("verdict") < events.index("answer")
    first = next(e for e in extras if e["event"] == "token")
    answer = next(e for e in extras if e["event"] == "answer")
    assert 0 < first["ttft_ms"] < answer["timings_ms"]["total"]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
