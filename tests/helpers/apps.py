"""App factories for a real uvicorn (`uvicorn --factory tests.helpers.apps:<name>`): the service as deployed, with
the bag-of-words embedder instead of the model (settings from the LONGHAUL_* environment)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

import numpy as np
from fastapi import FastAPI

from app.api.main import create_app
from tests.helpers.fakes import HashEmbedder


class SlowHashEmbedder(HashEmbedder):
    """`HashEmbedder` whose documents take ``delay_s`` per batch of ``batch`` texts, each batch reported: a build
    that stays a while between checkpoints. Queries stay instant."""

    def __init__(self, delay_s: float, batch: int = 8) -> None:
        super().__init__()
        self.delay_s, self.batch = delay_s, batch

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        out = []
        for start in range(0, len(texts), self.batch):
            time.sleep(self.delay_s)
            out.append(super().encode(texts[start:start + self.batch]))
            if progress:
                progress(len(out[-1]))
        return np.concatenate(out) if out else super().encode([])

    def encode_query(self, text: str) -> np.ndarray:
        return super().encode([text])[0]


def hash_app() -> FastAPI:
    return create_app(embedder=HashEmbedder())


def slow_ingest_app() -> FastAPI:
    """Documents embed at ``TEST_EMBED_DELAY_S`` (default 0.2 s) per 8 chunks."""
    return create_app(embedder=SlowHashEmbedder(float(os.environ.get("TEST_EMBED_DELAY_S", "0.2"))))
