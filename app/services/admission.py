"""A bounded engine queue: a fixed pool of worker threads and a bounded number of waiting requests.

When the queue is full, or a request waited longer than ``max_wait_s`` before a worker took it, the caller gets
`QueueFull` with a Retry-After estimate (the API turns it into 429) instead of an unbounded wait.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class QueueFull(Exception):
    def __init__(self, queue: str, retry_after_s: int) -> None:
        super().__init__(f"the {queue} queue is full: retry in {retry_after_s} s")
        self.queue, self.retry_after_s = queue, retry_after_s


class EngineQueue:
    def __init__(self, name: str, workers: int, max_waiting: int, max_wait_s: float = 30.0,
                 on_depth: Callable[[int], None] | None = None) -> None:
        if workers < 1 or max_waiting < 0:
            raise ValueError(f"queue {name!r}: workers must be >= 1 and max_waiting >= 0")
        self.name, self.workers, self.max_waiting, self.max_wait_s = name, workers, max_waiting, max_wait_s
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._depth = 0
        self._avg_s = 0.1
        self._on_depth = on_depth or (lambda depth: None)

    @property
    def depth(self) -> int:
        return self._depth

    def retry_after(self) -> int:
        return max(1, math.ceil(self._avg_s * (self._depth + 1) / self.workers))

    def _change(self, delta: int) -> None:
        with self._lock:
            self._depth += delta
            depth = self._depth
        self._on_depth(depth)

    def submit(self, fn: Callable[..., T], *args: object) -> asyncio.Future[T]:
        """Admit now or raise `QueueFull`; the returned future resolves when a worker has run ``fn(*args)``, or
        fails with `QueueFull` once it has waited ``max_wait_s`` without a worker taking it (it is then dropped)."""
        with self._lock:
            if self._depth >= self.workers + self.max_waiting:
                raise QueueFull(self.name, self.retry_after())
            self._depth += 1
        self._on_depth(self._depth)
        started = threading.Event()

        def job() -> T:
            started.set()
            t = time.monotonic()
            try:
                return fn(*args)
            finally:
                self._avg_s = 0.8 * self._avg_s + 0.2 * (time.monotonic() - t)

        if self._pool is None:  # started lazily, and again after a shutdown (an app may serve several lifespans)
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix=f"engine-{self.name}")
        loop = asyncio.get_running_loop()
        inner = self._pool.submit(job)
        outer: asyncio.Future[T] = loop.create_future()

        def settle(f: Future[T]) -> None:
            self._change(-1)
            if outer.done():
                return
            if f.cancelled():
                outer.set_exception(QueueFull(self.name, self.retry_after()))
            elif f.exception() is not None:
                outer.set_exception(f.exception())  # type: ignore[arg-type]
            else:
                outer.set_result(f.result())

        def expire() -> None:
            if not started.is_set() and inner.cancel():  # still waiting: drop it and refuse
                return
            timer.cancel()

        inner.add_done_callback(lambda f: loop.call_soon_threadsafe(settle, f))
        timer = loop.call_later(self.max_wait_s, expire)
        outer.add_done_callback(lambda _: timer.cancel())
        return outer

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        return await self.submit(fn, *args)

    def shutdown(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
