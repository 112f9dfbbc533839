"""Where the service runs a tenant's writers (upload, delete, reindex): apart from query serving.

`ProcessWriters` (the default, ``LONGHAUL_INGEST_ISOLATION=process``) runs them one at a time in a child process at
lowered priority (``LONGHAUL_INGEST_NICE``) with ``LONGHAUL_INGEST_THREADS`` compute threads, so chunking and
embedding a large document take a bounded CPU share and never the API process's interpreter lock.
`ThreadWriters` (``thread``) runs them on one thread of the API process (the peer the isolation is measured
against, and the choice where a child process cannot be started).

Stopping: `close(grace_s)` asks the child to stop; a build in progress is abandoned at its next checkpoint (between
files and embedding batches; the journal puts the store back) and a reindex is marked failed; a child still busy
after ``grace_s`` is killed, which the next startup's recovery settles like any crash.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from app.core.settings import Settings

log = logging.getLogger(__name__)
METHODS = ("put", "delete", "run_reindex", "resume")


INTERRUPTED = ("the service is stopping: this write was interrupted and not applied; an upload or deletion is "
               "kept and runs again when the service starts, a reindex is failed")


class WritersBusy(Exception):
    """More writes wait than ``LONGHAUL_INGEST_MAX_WAITING`` allows (the API answers 429)."""


class WritersStopped(Exception):
    """The writer was stopped (shutdown) or died before the write finished; the write was not applied."""


class ShutdownRequested(BaseException):
    """Raised at a build's checkpoint once the service is stopping (a BaseException: nothing swallows it)."""


class Writers(Protocol):
    """Runs `DocumentStore` writers (``put``, ``delete``, ``run_reindex``) apart from the request handlers."""

    def submit(self, method: str, *args: Any) -> Future[Any]:
        """The future result of ``store.<method>(*args)``; `WritersBusy` when too many wait."""
        ...

    def stop(self) -> None:
        """Ask for a stop without waiting: new writes are refused, the one under way ends at its next checkpoint
        (its caller gets `WritersStopped`). Safe from a signal handler."""
        ...

    def close(self, grace_s: float) -> None:
        """`stop`, then wait up to ``grace_s`` seconds; pending writes fail with `WritersStopped`."""
        ...

    def open(self) -> None:
        """Get ready for writes (again, after `close`: an app may serve several lifespans)."""
        ...


def _check(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown writer {method!r}: choose from {', '.join(METHODS)}")


class ThreadWriters:
    """The writers on one thread of this process (``store`` is the API's `DocumentStore`)."""

    def __init__(self, store: Any, max_waiting: int) -> None:
        self.store, self.max_waiting = store, max_waiting
        self._pool: ThreadPoolExecutor | None = None
        self._pending = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        store.checkpoint = self._checkpoint

    def _checkpoint(self) -> None:
        if self._stopping.is_set():
            raise ShutdownRequested(INTERRUPTED)

    def _run(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self.store, method)(*args)
        except ShutdownRequested as exc:
            raise WritersStopped(str(exc)) from exc

    def submit(self, method: str, *args: Any) -> Future[Any]:
        _check(method)
        with self._lock:
            if self._pending > self.max_waiting:
                raise WritersBusy(f"{self._pending} writes are waiting: retry later")
            self._pending += 1
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="writer")
            fut = self._pool.submit(self._run, method, *args)
        fut.add_done_callback(lambda _: self._done())
        return fut

    def _done(self) -> None:
        with self._lock:
            self._pending -= 1

    def stop(self) -> None:
        self._stopping.set()

    def close(self, grace_s: float) -> None:
        """A write under way stops at its next checkpoint; its thread cannot be killed, so a write busy in one
        long step (a huge file's chunking) delays the exit."""
        self._stopping.set()
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def open(self) -> None:
        self._stopping.clear()


class ProcessWriters:
    """The writers in one child process (started by `open` or the first write; again after it died)."""

    def __init__(self, settings: Settings, embedder: Any = None,
                 on_death: Callable[[], object] | None = None) -> None:
        """``embedder``: picklable, sent to the child (default: the child loads the bundled model itself);
        ``on_death``: called when the child died unasked (the API runs the startup recovery)."""
        self.settings, self.embedder, self.on_death = settings, embedder, on_death
        self._ctx = mp.get_context("spawn")  # never fork a process that holds torch and threads
        self._lock = threading.Lock()
        self._proc: Any = None
        self._requests: Any = None
        self._pending: dict[int, Future[Any]] = {}
        self._next_id = 0
        self._closing = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.is_alive() else None

    def submit(self, method: str, *args: Any) -> Future[Any]:
        _check(method)
        fut: Future[Any] = Future()
        fut.set_running_or_notify_cancel()  # a caller that gives up does not cancel a write under way
        with self._lock:
            if self._closing:
                raise WritersStopped("the service is shutting down: send the write again once it has restarted")
            if len(self._pending) > self.settings.ingest_max_waiting:
                raise WritersBusy(f"{len(self._pending)} writes are waiting: retry later")
            if self._proc is None:
                self._start()
            self._next_id += 1
            self._pending[self._next_id] = fut
            self._requests.put((self._next_id, method, args))
        return fut

    def _start(self) -> None:
        from app.services.writer_child import serve

        self._requests, replies = self._ctx.Queue(), self._ctx.Queue()
        self._pending = {}  # this child's calls: a late reader of the previous child never fails them
        self._proc = self._ctx.Process(target=serve, name="longhaul-writer", daemon=True,
                                       args=(self._requests, replies, self.settings, self.embedder, os.getpid(),
                                             logging.getLogger().getEffectiveLevel()))
        self._proc.start()
        threading.Thread(target=self._read, args=(self._proc, replies, self._pending), name="writer-replies",
                         daemon=True).start()
        log.info("writer process %d started (nice %d, %d threads)", self._proc.pid, self.settings.ingest_nice,
                 self.settings.ingest_threads)

    def _read(self, proc: Any, replies: Any, pending: dict[int, Future[Any]]) -> None:
        """Resolve ``pending`` (``proc``'s calls) from its replies until it exits; then fail what is left."""
        alive = True
        while True:
            try:
                call_id, ok, value = replies.get(timeout=0.2 if alive else 0)
            except queue.Empty:
                if alive and proc.is_alive():
                    continue
                if alive:  # exited: read what it sent before, once more without waiting
                    alive = False
                    continue
                break
            except (EOFError, OSError):
                break
            with self._lock:
                fut = pending.pop(call_id, None)
            if fut is not None:
                fut.set_result(value) if ok else fut.set_exception(value)
        with self._lock:
            lost = dict(pending)
            pending.clear()
            unasked = not self._closing and self._proc is proc and proc.exitcode != 0  # 0: it was asked to stop
            if self._proc is proc:
                self._proc = None
        for fut in lost.values():
            fut.set_exception(WritersStopped("the writer process stopped before this write finished: an upload or "
                                             "deletion runs again once the service has recovered, a reindex is "
                                             "failed"))
        if unasked:
            log.error("writer process %d died (exit %s); recovering", proc.pid, proc.exitcode)
            if self.on_death is not None:
                self.on_death()

    def stop(self) -> None:
        self._closing = True  # no lock: this may run in a signal handler while the lock is held
        proc = self._proc
        if proc is not None and proc.pid is not None:
            try:
                os.kill(proc.pid, signal.SIGTERM)  # the child stops at its next checkpoint, or at once when idle
            except ProcessLookupError:
                pass

    def close(self, grace_s: float) -> None:
        self.stop()
        proc = self._proc
        if proc is None:
            return
        proc.join(grace_s)
        if proc.is_alive():
            log.warning("writer process %d still busy after %.1f s: killed (recovery settles it at the next "
                        "start)", proc.pid, grace_s)
            proc.kill()
            proc.join(5)
        with self._lock:
            requests = self._requests
            if self._proc is proc:
                self._proc, self._requests = None, None
        if requests is not None:
            requests.close()
            requests.cancel_join_thread()  # what the child never read is dropped (its callers got WritersStopped)

    def open(self) -> None:
        """Start the child now (it loads its tokenizer before the first write); after `close`, accept
        writes again (an app may serve several lifespans)."""
        with self._lock:
            self._closing = False
            if self._proc is None:
                self._start()


def writers_for(settings: Settings, store: Any, embedder: Any = None,
                on_death: Callable[[], object] | None = None) -> Writers:
    """The writers ``LONGHAUL_INGEST_ISOLATION`` names."""
    if settings.ingest_isolation == "process":
        return ProcessWriters(settings, embedder, on_death)
    return ThreadWriters(store, settings.ingest_max_waiting)
