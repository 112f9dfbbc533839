"""Issue 24: LangChain's `ChatOpenAI` pointed at our base URL, against a real uvicorn (the real pipeline over a fake
engine and fake records): a completion and a streamed one keep their `[E#]` citations, a bad key is OpenAI's 401."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from app.api.main import create_app
from app.core.settings import Settings
from app.services.answers import Pipeline
from tests.helpers.answers import CitingGenerator, SwappingSource
from tests.helpers.live import LiveApp
from tests.helpers.sql import new_key

QUESTION = "What was scanned for order #100231?"
MESSAGES = [SystemMessage("You are a support agent's assistant."), HumanMessage(QUESTION)]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveApp, str]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("lc-openai"))
    secret, _ = new_key(settings, "acme", ["agent"])
    pipeline = Pipeline(llm=CitingGenerator(delay_s=0.01), retrievers=SwappingSource("v000001", "v000001"),
                        max_question_chars=4000)
    with LiveApp(create_app(settings, pipeline=pipeline, embedder=object())) as srv:
        yield srv, secret


def _chat(srv: LiveApp, key: str, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(model="longhaul-hybrid", base_url=srv.url + "/v1", api_key=key, max_retries=0, timeout=60,
                      extra_body={"longhaul": {"use_cache": False}}, **kwargs)


def test_invoke_keeps_the_citations(live: Any) -> None:
    srv, key = live
    reply = _chat(srv, key).invoke(MESSAGES)
    assert isinstance(reply, AIMessage)
    content = str(reply.content)
    assert "EX-71" in content and "[E1]" in content
    assert reply.usage_metadata and reply.usage_metadata["output_tokens"] > 0
    assert reply.response_metadata["finish_reason"] == "stop"


def test_stream_keeps_the_citations(live: Any) -> None:
    srv, key = live
    chunks = list(_chat(srv, key, stream_usage=True).stream(MESSAGES))
    assert len(chunks) > 3 and all(isinstance(c, AIMessageChunk) for c in chunks)
    whole = chunks[0]
    for c in chunks[1:]:
        whole += c
    content = str(whole.content)
    assert "EX-71" in content and "[E1]" in content
    assert whole.usage_metadata and whole.usage_metadata["output_tokens"] > 0


def test_a_bad_key_is_openais_401(live: Any) -> None:
    srv, _ = live
    for call in (lambda chat: chat.invoke(MESSAGES), lambda chat: list(chat.stream(MESSAGES))):
        with pytest.raises(openai.AuthenticationError) as bad:
            call(_chat(srv, "lh_not_a_key"))
        assert bad.value.status_code == 401 and bad.value.code == "invalid_api_key"
        assert bad.value.body and bad.value.body["type"] == "invalid_request_error"  # type: ignore[index]
