"""Prometheus metrics of the service, on a registry per app so several apps (tests) never collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Histogram("longhaul_http_request_seconds", "HTTP request latency",
                                  ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=r)
        self.stage = Histogram("longhaul_pipeline_stage_seconds", "Time per pipeline stage",
                               ["stage", "mode"], buckets=LATENCY_BUCKETS, registry=r)
        self.tokens = Counter("longhaul_tokens_total", "Engine tokens", ["direction"], registry=r)
        self.cache = Counter("longhaul_answer_cache_total", "Answer cache lookups", ["result"], registry=r)
        self.queue_depth = Gauge("longhaul_engine_queue_depth", "Requests waiting or running", ["queue"], registry=r)
        self.rejected = Counter("longhaul_engine_queue_rejected_total", "Requests refused with 429", ["queue"],
                                registry=r)
        self.kv_bytes = Histogram("longhaul_kv_cache_bytes", "KV cache bytes per generated answer",
                                  buckets=tuple(2.0**i for i in range(16, 34, 2)), registry=r)
        self.jobs_items = Counter("longhaul_job_items_total", "Reconciliation items finished", ["status"],
                                  registry=r)

    def observe_answer(self, mode: str, timings_ms: dict[str, float], tokens_in: int, tokens_out: int,
                       kv_bytes: int) -> None:
        for stage, ms in timings_ms.items():
            self.stage.labels(stage, mode).observe(ms / 1e3)
        if tokens_in:
            self.tokens.labels("in").inc(tokens_in)
        if tokens_out:
            self.tokens.labels("out").inc(tokens_out)
        if kv_bytes:
            self.kv_bytes.observe(kv_bytes)

    def render(self) -> bytes:
        return generate_latest(self.registry)
