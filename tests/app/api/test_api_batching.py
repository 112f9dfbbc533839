"""Query embeddings of concurrent requests are batched into few model calls, each caller getting its own vector."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

from app.services.batching import BatchingEmbedder


class RecordingEmbedder:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def load(self) -> None: ...

    def encode(self, texts: Sequence[str], progress: object = None) -> np.ndarray:
        self.calls.append(len(texts))
        time.sleep(0.05)  # a model call: others queue up meanwhile
        if "boom" in texts:
            raise RuntimeError("model failed")
        return np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32)


def test_concurrent_queries_share_batches() -> None:
    inner = RecordingEmbedder()
    emb = BatchingEmbedder(inner)
    out: dict[int, np.ndarray] = {}

    def ask(i: int) -> None:
        out[i] = emb.encode_query("q" * (i + 1))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(out[i][0] == i + 1 for i in range(16))
    assert sum(inner.calls) == 16 and len(inner.calls) < 16
    assert emb.queries == 16 and emb.batches == len(inner.calls)


def test_a_failed_batch_raises_in_the_caller_and_the_loop_survives() -> None:
    emb = BatchingEmbedder(RecordingEmbedder())
    with pytest.raises(RuntimeError, match="model failed"):
        emb.encode_query("boom")
    assert emb.encode_query("ok")[0] == 2.0
