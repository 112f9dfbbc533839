"""With LONGHAUL_GENERATE_WORKERS > 1 the workers share one engine and its KV cache: generations take turns
(issue 20, finding 5)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from app.api.main import create_app
from app.core.settings import Settings
from app.services.answers import Pipeline
from tests.helpers.answers import CountingGenerator, SwappingSource
from tests.helpers.sql import new_key


class OverlapGenerator(CountingGenerator):
    def __init__(self) -> None:
        super().__init__()
        self.active = self.most = 0
        self.guard = threading.Lock()

    def generate(self, prompt: str, **kwargs: Any) -> Any:
        with self.guard:
            self.active += 1
            self.most = max(self.most, self.active)
        time.sleep(0.05)
        try:
            return super().generate(prompt, **kwargs)
        finally:
            with self.guard:
                self.active -= 1


def test_generations_of_several_workers_never_overlap(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, generate_workers=3)
    secret, _ = new_key(settings, "acme", ["agent"])
    llm = OverlapGenerator()
    pipeline = Pipeline(llm=llm, retrievers=SwappingSource("v000001", "v000001"), max_question_chars=4000)
    app = create_app(settings, pipeline=pipeline, embedder=object())

    async def ask_many() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=60) as c:
            body = {"question": "What was scanned for order #100231?", "use_cache": False}
            headers = {"Authorization": f"Bearer {secret}"}
            return await asyncio.gather(*(c.post("/v1/ask", json=body, headers=headers) for _ in range(3)))

    rs = asyncio.run(ask_many())
    assert [r.status_code for r in rs] == [200] * 3, rs[0].text
    assert len(llm.generations) >= 3 and llm.most == 1
