"""Everything one API process holds: settings, the database, the retrievers, the pipeline, the engine queues, the
cache, metrics, the document store and the job runner."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from app.core.db import Database
from app.core.metrics import Metrics
from app.core.settings import Settings
from app.services.admission import EngineQueue
from app.services.answers import Pipeline, pipeline_for
from app.services.batching import BatchingEmbedder
from app.services.cache import AnswerCache
from app.services.documents import DocumentStore
from app.services.job_runners import CeleryRunner, InProcessRunner, pipeline_ask
from app.services.keys import RateLimiter
from app.services.retrievers import RetrieverCache
from app.services.serial import SerialGenerator
from app.services.versions import pending_tenants, recover
from app.services.writers import Writers, writers_for


@dataclass
class AppState:
    settings: Settings
    db: Database  # the SQL engine and session factory (`deps.SessionDep` opens one session per request)
    retrievers: RetrieverCache
    pipeline: Pipeline
    metrics: Metrics
    cache: AnswerCache
    limiter: RateLimiter
    auth_failures: RateLimiter  # per client address: failed authentications
    store: DocumentStore
    embedder: Any
    writers: Writers  # uploads, deletions and reindexes run here, apart from query serving
    queues: dict[str, EngineQueue] = field(default_factory=dict)
    background: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(2, thread_name_prefix="bg"))
    closed: bool = False
    jobs: Any = None
    # answers being computed, by cache key: an identical question asked meanwhile (a double click, a retry after a
    # lost connection) waits for the same answer instead of computing it again (`answering.joinable`)
    in_flight: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)

    def queue_for(self, mode: str) -> EngineQueue:
        return self.queues["retrieval" if mode == "retrieval_only" else "generate"]

    def open(self) -> None:
        """(Re)start what `close` stopped: the ASGI lifespan may run more than once for one app."""
        if self.closed:
            self.background = ThreadPoolExecutor(2, thread_name_prefix="bg")
            self.jobs.open()
            self.closed = False
        self.writers.open()
        self.recover()

    def recover(self) -> None:
        """Settle what a crash left (reindexes left `building` are failed, interrupted uploads and deletions undone)
        and hand the interrupted uploads and deletions to the writers to run again; at startup and when the writer
        process died."""
        recover(self.settings, self.db.sessions)
        for tenant in pending_tenants(self.settings, self.db.sessions):
            self.writers.submit("resume", tenant)
        self.jobs.resume()  # in-process runner: pick up the pending items a crash or restart left behind

    def close(self) -> None:
        for q in self.queues.values():
            q.shutdown()
        self.writers.close(self.settings.shutdown_grace_s)
        self.background.shutdown(wait=False, cancel_futures=True)
        self.jobs.close()
        self.db.close()
        self.closed = True


def build_state(settings: Settings, pipeline: Pipeline | None = None, embedder: Any = None,
                retrievers: RetrieverCache | None = None) -> AppState:
    """``pipeline``, ``embedder`` and ``retrievers`` let tests and `longhaul serve --gpus` swap stages."""
    from retrieval.embed import Embedder

    metrics = Metrics()
    db = Database.of(settings)
    given_embedder = embedder  # a test's picklable embedder goes to the writer process too; else it loads its own
    embedder = embedder or BatchingEmbedder(Embedder())
    retrievers = retrievers or RetrieverCache(settings, embedder=embedder)
    pipeline = pipeline or pipeline_for(settings, retrievers=retrievers)
    if settings.generate_workers > 1 and hasattr(pipeline, "llm"):  # workers share the one engine and its cache
        pipeline.llm = SerialGenerator(pipeline.llm)
    store = DocumentStore(settings, db.sessions, embedder=embedder)
    state = AppState(
        settings=settings, db=db, retrievers=retrievers, pipeline=pipeline, metrics=metrics,
        cache=AnswerCache(settings.redis_url, ttl_s=settings.cache_ttl_s, prefix=settings.redis_prefix),
        limiter=RateLimiter(settings.rate_limit_per_minute),
        auth_failures=RateLimiter(settings.auth_failures_per_minute, burst=10),
        store=store, embedder=embedder,
        writers=writers_for(settings, store, given_embedder, on_death=lambda: state.recover()),
    )
    if settings.redis_url:
        state.jobs = CeleryRunner(settings)
    else:
        state.jobs = InProcessRunner(settings, db.sessions, pipeline_ask(pipeline))
    for name, workers in (("retrieval", settings.retrieval_workers), ("generate", settings.generate_workers)):
        gauge = metrics.queue_depth.labels(name)
        state.queues[name] = EngineQueue(name, workers, settings.queue_max_waiting, settings.queue_max_wait_s,
                                         on_depth=gauge.set)
    return state
