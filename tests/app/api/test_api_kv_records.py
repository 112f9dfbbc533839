"""Issue 23, item 3: ``kv: records@4`` on /v1/ask reaches the engine with the packed prompt's record, question and
instruction spans; a bad record option is a 422 before any work (ASGI app in process, fakes)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from app.api.main import create_app
from app.core.settings import Settings
from app.services.answers import Pipeline
from app.services.answers.options import kv_for_prompt
from engine.kv import KVSpec, RecordKV, parse_kv_spec
from packing.prompt import ANSWER_INSTRUCTION
from tests.helpers.answers import CitingGenerator, SwappingSource
from tests.helpers.sql import new_key

QUESTION = "What was scanned for order #100231?"


class SpecRecorder(CitingGenerator):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, Any]] = []

    def generate(self, prompt: str, **kwargs: Any) -> Any:
        self.calls.append((prompt, kwargs["kv_policy"]))
        return super().generate(prompt, **kwargs)


def _ask(tmp_path: Path, llm: SpecRecorder, *bodies: dict[str, Any]) -> list[httpx.Response]:
    settings = Settings(data_dir=tmp_path)
    secret, _ = new_key(settings, "acme", ["agent"])
    pipeline = Pipeline(llm=llm, retrievers=SwappingSource("v000001", "v000001"), max_question_chars=4000)
    app = create_app(settings, pipeline=pipeline, embedder=object())
    headers = {"Authorization": f"Bearer {secret}"}

    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=60) as c:
            return [await c.post("/v1/ask", json=b, headers=headers) for b in bodies]

    return asyncio.run(go())


def test_records_kv_option_hands_the_engine_the_packed_prompts_spans(tmp_path: Path) -> None:
    llm = SpecRecorder()
    ok, bad = _ask(tmp_path, llm, {"question": QUESTION, "kv": "records@4", "use_cache": False},
                   {"question": QUESTION, "kv": "records@four"})
    assert ok.status_code == 200, ok.text
    assert bad.status_code == 422 and "kv" in bad.text
    prompt, spec = llm.calls[0]
    assert isinstance(spec, KVSpec) and isinstance(spec.policy, RecordKV) and spec.policy.ratio == 4.0
    parts = [(s.kind, prompt[s.start:s.end]) for s in spec.segments]
    records = [t for k, t in parts if k == "record"]
    assert records and all(t.startswith(f"[E{i + 1}] ") for i, t in enumerate(records))
    assert [t for k, t in parts if k == "question"] == [f"Question: {QUESTION}"] * 2  # before and after the evidence
    assert ("instructions", ANSWER_INSTRUCTION) in parts


def test_a_prompt_without_records_keeps_the_full_cache_in_the_chosen_dtype() -> None:
    spec = parse_kv_spec("records@4:int8")
    plain = kv_for_prompt(spec, "Combine these partial answers: ...")
    assert plain is not None and plain.policy is None and plain.dtype == "int8"
    snap = parse_kv_spec("snapkv@4")
    assert kv_for_prompt(snap, "anything") is snap and kv_for_prompt(None, "x") is None
