"""Who runs job items: Celery workers over the Redis broker (acks late, redelivered when a worker dies, retried
with backoff), or, without a Redis URL, a pool of threads in the API process. Both call
`app.services.jobs.process_item`."""

from __future__ import annotations

import logging
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from app.core.db import Database, SessionFactory
from app.core.settings import Settings
from app.services.answers import AskOptions, Pipeline, pipeline_for
from app.services.jobs import AskFn, pending_items, process_item

log = logging.getLogger(__name__)
TASK = "longhaul.reconcile_item"


def pipeline_ask(pipeline: Pipeline) -> AskFn:
    def ask(question: str, tenant: str, options: dict[str, Any]) -> dict[str, Any]:
        return pipeline.ask(question, tenant, AskOptions(**options)).to_json()

    return ask


class InProcessRunner:
    """Threads in this process; `resume()` re-dispatches the pending items of unfinished jobs (after a restart)."""

    kind = "in-process"

    def __init__(self, settings: Settings, sessions: SessionFactory, ask: AskFn) -> None:
        self.sessions = sessions
        self.ask, self.max_attempts = ask, settings.job_max_attempts
        self.workers = settings.job_workers
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="job")
        self.worker = f"{socket.gethostname()}:{os.getpid()}:inproc"
        self._queued: set[int] = set()
        self._lock = threading.Lock()

    def dispatch(self, item_ids: list[int]) -> None:
        with self._lock:
            fresh = [i for i in item_ids if i not in self._queued]
            self._queued.update(fresh)
        for item_id in fresh:
            self.pool.submit(self._run, item_id)

    def _run(self, item_id: int) -> None:
        try:
            while process_item(self.sessions, item_id, self.ask, self.worker, self.max_attempts) == "retry":
                pass
        except Exception:
            log.exception("job item %d crashed the runner; it stays pending for a resume", item_id)
        finally:
            with self._lock:
                self._queued.discard(item_id)

    def resume(self) -> None:
        with self.sessions() as s:
            pending = pending_items(s)
        self.dispatch(pending)

    def open(self) -> None:
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="job")

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


class CeleryRunner:
    """Sends one Celery task per item; `longhaul worker` processes (anywhere that reaches Redis and SQL) run them."""

    kind = "celery"

    def __init__(self, settings: Settings) -> None:
        self.celery = make_celery(settings)

    def dispatch(self, item_ids: list[int]) -> None:
        for item_id in item_ids:
            self.celery.send_task(TASK, args=[item_id])

    def resume(self) -> None:  # Redis keeps unacked tasks; a resume is explicit (POST /v1/jobs/{id}/resume)
        return None

    def open(self) -> None:
        return None

    def close(self) -> None:
        self.celery.close()


def make_celery(settings: Settings) -> Any:
    from celery import Celery

    if not settings.redis_url:
        raise ValueError("Celery needs LONGHAUL_REDIS_URL; without it jobs run in the API process")
    app = Celery("longhaul", broker=settings.redis_url, set_as_current=False)
    visibility = settings.job_visibility_timeout_s
    app.conf.update(
        task_acks_late=True,  # a task is acknowledged after it ran: a killed worker's task is redelivered
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,  # results live in SQL
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": visibility, "unacked_restore_throttle": 1,
                                  "unacked_restore_interval": max(1, min(10, visibility // 2))},
        worker_hijack_root_logger=False,
    )
    return app


def worker_app(settings: Settings) -> Any:
    """The Celery app of `longhaul worker`, with the item task registered; the worker's database, retrievers and
    pipeline (its engine loads on the first generated answer) live as long as the app."""
    app = make_celery(settings)
    sessions = Database.of(settings).sessions
    worker = f"{socket.gethostname()}:{os.getpid()}"
    max_attempts = settings.job_max_attempts
    ask = pipeline_ask(pipeline_for(settings))

    @app.task(name=TASK, bind=True, max_retries=None, acks_late=True)
    def reconcile_item(self: Any, item_id: int) -> str:
        try:
            outcome = process_item(sessions, item_id, ask, worker, max_attempts)
        except Exception as exc:  # the database or the engine failed outside the item: try again, never drop it
            log.exception("item %d: %s; retrying", item_id, type(exc).__name__)
            raise self.retry(exc=exc, countdown=min(2**self.request.retries, 30), max_retries=20) from exc
        if outcome == "retry":
            raise self.retry(countdown=min(2**self.request.retries, 30))
        return outcome

    return app
