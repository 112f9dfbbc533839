"""Answer cache keyed by tenant + the tenant's live index version + question + options.

Redis when a URL is set (short timeouts; after an error it is bypassed for ``retry_s`` and the service answers
uncached), else a small in-process LRU. A reindex changes the live version, so old entries are never read again
and expire by TTL.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from typing import Any

log = logging.getLogger(__name__)


def cache_key(prefix: str, tenant: str, version: str, question: str, options: dict[str, Any]) -> str:
    blob = json.dumps([question.strip(), options], sort_keys=True, separators=(",", ":"))
    return f"{prefix}:answer:{tenant}:{version}:{hashlib.sha256(blob.encode()).hexdigest()}"


class AnswerCache:
    def __init__(self, redis_url: str | None, *, ttl_s: int = 3600, max_local: int = 1024, retry_s: float = 2.0,
                 prefix: str = "longhaul") -> None:
        self.ttl_s, self.max_local, self.retry_s, self.prefix = ttl_s, max_local, retry_s, prefix
        self._local: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._redis: Any = None
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url, socket_connect_timeout=0.25, socket_timeout=0.5,
                                               health_check_interval=0)

    @property
    def backend(self) -> str:
        return "redis" if self._redis is not None else "memory"

    def key(self, tenant: str, version: str, question: str, options: dict[str, Any]) -> str:
        return cache_key(self.prefix, tenant, version, question, options)

    def _redis_ok(self) -> bool:
        return self._redis is not None and time.monotonic() >= self._down_until

    def _failed(self, exc: Exception) -> None:
        if time.monotonic() >= self._down_until:
            log.warning("answer cache: redis unavailable (%s); answering uncached for %.0f s", exc, self.retry_s)
        self._down_until = time.monotonic() + self.retry_s

    def get(self, key: str) -> dict[str, Any] | None:
        """The cached answer, or None on a miss or when the cache is unavailable."""
        if self._redis is not None:
            if not self._redis_ok():
                return None
            try:
                raw = self._redis.get(key)
            except Exception as exc:  # noqa: BLE001 - any Redis failure means "no cache", never a failed request
                self._failed(exc)
                return None
            return json.loads(raw) if raw else None
        with self._lock:
            hit = self._local.get(key)
            if hit is None or hit[0] < time.monotonic():
                return None
            self._local.move_to_end(key)
            return json.loads(hit[1])

    def set(self, key: str, value: dict[str, Any]) -> None:
        raw = json.dumps(value)
        if self._redis is not None:
            if self._redis_ok():
                try:
                    self._redis.set(key, raw, ex=self.ttl_s)
                except Exception as exc:  # noqa: BLE001
                    self._failed(exc)
            return
        with self._lock:
            self._local[key] = (time.monotonic() + self.ttl_s, raw)
            self._local.move_to_end(key)
            while len(self._local) > self.max_local:
                self._local.popitem(last=False)

    def ping(self) -> bool | None:
        """True/False for Redis reachability; None when no Redis is configured."""
        if self._redis is None:
            return None
        try:
            return bool(self._redis.ping())
        except Exception:  # noqa: BLE001
            return False
