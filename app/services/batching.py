"""Query embeddings of concurrent requests batched into one model call (one background thread drains a queue)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np


class BatchingEmbedder:
    """Wraps an `Embedder`: `encode_query` from many threads becomes one `encode` of up to ``max_batch`` texts."""

    def __init__(self, inner: Any, max_batch: int = 64) -> None:
        self.inner, self.max_batch = inner, max_batch
        self._q: queue.Queue[tuple[str, Future[np.ndarray]]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self.batches = 0
        self.queries = 0

    def load(self) -> None:
        self.inner.load()

    def encode(self, texts: Sequence[str], progress: Any = None) -> np.ndarray:
        return self.inner.encode(texts, progress=progress)

    def encode_query(self, text: str) -> np.ndarray:
        if self._thread is None:
            with self._start:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name="query-embedder", daemon=True)
                    self._thread.start()
        fut: Future[np.ndarray] = Future()
        self._q.put((text, fut))
        return fut.result()

    def _loop(self) -> None:
        while True:
            batch = [self._q.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._q.get_nowait())
                except queue.Empty:
                    break
            try:
                vecs = self.inner.encode([t for t, _ in batch])
            except Exception as exc:  # noqa: BLE001 - handed to every waiting caller
                for _, fut in batch:
                    fut.set_exception(exc)
                continue
            self.batches += 1
            self.queries += len(batch)
            for (_, fut), vec in zip(batch, vecs, strict=True):
                fut.set_result(vec)
