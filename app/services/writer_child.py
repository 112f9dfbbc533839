"""The writer process's main loop (`app.services.writers.ProcessWriters` starts it with the spawn method).

It lowers its own priority, caps its compute threads, opens its own database connection and `DocumentStore`, then
runs one write at a time and replies ``(call_id, ok, result or exception)``. SIGTERM while idle exits at once;
while a write runs it is abandoned at the write's next checkpoint. The process exits when the API process is gone.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import threading
import time
from typing import Any

from app.core.settings import Settings

log = logging.getLogger(__name__)


class _Stop:
    """SIGTERM: exit now when idle, else make the running write's next checkpoint raise."""

    def __init__(self) -> None:
        self.busy = False
        self.requested = False

    def on_signal(self, signum: int, _frame: Any) -> None:
        self.requested = True
        if not self.busy:
            raise SystemExit(0)

    def checkpoint(self) -> None:
        from app.services.writers import INTERRUPTED, ShutdownRequested

        if self.requested:
            raise ShutdownRequested(INTERRUPTED)


def _limit_cpu(settings: Settings) -> None:
    """Lower priority and cap the BLAS/torch/faiss threads before any of them is imported."""
    os.nice(settings.ingest_nice)
    threads = str(settings.ingest_threads)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = threads
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _watch_parent(parent: int) -> None:
    """Exit (as after a crash) once the API process is gone: an orphan must not keep a tenant's lock."""
    while os.getppid() == parent:
        time.sleep(0.25)
    os._exit(1)


def _picklable(exc: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any exception that cannot cross the process boundary is described instead
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def serve(requests: Any, replies: Any, settings: Settings, embedder: Any, parent: int, log_level: int) -> None:
    """Run writes from ``requests`` until None arrives, SIGTERM or the parent's death."""
    _limit_cpu(settings)
    from app.core.logs import setup_logging

    setup_logging(logging.getLevelName(log_level))
    stop = _Stop()
    signal.signal(signal.SIGTERM, stop.on_signal)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the API process decides
    threading.Thread(target=_watch_parent, args=(parent,), name="watch-parent", daemon=True).start()

    from app.core.db import Database
    from app.services.documents import DocumentStore
    from app.services.writers import WritersStopped

    if embedder is None:
        from retrieval.embed import EmbedConfig, Embedder

        embedder = Embedder(EmbedConfig(threads=settings.ingest_threads))
    from engine.tokenizer import load_tokenizer

    count = load_tokenizer().count  # before the first write (a SIGTERM meanwhile simply exits); the model loads
    # with the first write that embeds: a deletion never waits for it
    db = Database.of(settings)
    store = DocumentStore(settings, db.sessions, embedder=embedder, checkpoint=stop.checkpoint, count=count)
    try:
        while (msg := requests.get()) is not None:
            call_id, method, args = msg
            stop.busy = True
            try:
                replies.put((call_id, True, getattr(store, method)(*args)))
            except BaseException as exc:  # noqa: BLE001 - every outcome goes back to the caller
                replies.put((call_id, False, _picklable(exc if isinstance(exc, Exception) else WritersStopped(exc))))
                if not isinstance(exc, Exception):
                    raise
            finally:
                stop.busy = False
            if stop.requested:
                break
    except BaseException:  # noqa: BLE001 - a stop request while idle, or an abandoned write
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # stopping already: a second SIGTERM must not cut the cleanup
        replies.close()
        replies.join_thread()
        db.close()
