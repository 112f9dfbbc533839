"""Service tunables not (yet) fields of `Settings`: read from the settings when present, else the environment."""

from __future__ import annotations

import os
from typing import Any

from app.core.settings import Settings

DEFAULTS: dict[str, Any] = {
    "retrieval_workers": 4,  # threads answering retrieval-only questions
    "generate_workers": 1,  # threads driving the LLM (one engine per process)
    "queue_max_waiting": 64,  # requests allowed to wait per queue before 429
    "queue_max_wait_s": 30.0,  # a request that waited longer than this is refused with 429
    "cache_ttl_s": 3600,
    "redis_prefix": "longhaul",
    "rate_limit_per_minute": 6000,
    "max_body_bytes": 8 * 2**20,
    "job_workers": 2,  # in-process job threads when no Redis is configured
    "job_max_attempts": 3,
    "job_visibility_timeout_s": 600,  # Celery/Redis: an unacked item is redelivered after this long
}


def option(settings: Settings, name: str) -> Any:
    """A tunable: the `Settings` field when it exists, else ``LONGHAUL_<NAME>`` from the environment, else the
    default (typed like the default)."""
    if hasattr(settings, name):
        return getattr(settings, name)
    default = DEFAULTS[name]
    raw = os.environ.get(f"LONGHAUL_{name.upper()}")
    return default if raw is None else type(default)(raw)
