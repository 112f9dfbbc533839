"""API keys (random bearer tokens stored as SHA-256 hashes, each bound to one tenant and a set of scopes) and a
per-key token-bucket rate limit."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.rows import ApiKeyRow, now_utc
from app.core.tenants import check_tenant

SCOPES: tuple[str, ...] = ("agent", "admin")
KEY_PREFIX = "lh_"


@dataclass(frozen=True)
class ApiKey:
    """An authenticated caller: what a route may know about the key (never the secret)."""

    id: str
    tenant: str
    scopes: frozenset[str]
    name: str = ""

    def allows(self, scope: str) -> bool:
        """``admin`` implies every scope."""
        return scope in self.scopes or "admin" in self.scopes


@dataclass(frozen=True)
class KeyInfo:
    id: str
    prefix: str
    tenant: str
    scopes: list[str]
    name: str
    created_at: datetime
    revoked: bool


def hash_key(secret: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is safe; a slow KDF would only cost latency per request.
    return hashlib.sha256(secret.encode()).hexdigest()


def _check_scopes(scopes: list[str]) -> list[str]:
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise ValueError(f"unknown or missing scopes {bad or scopes}: choose from {', '.join(SCOPES)}")
    return sorted(set(scopes))


def create_key(s: Session, tenant: str, scopes: list[str], name: str = "") -> tuple[str, KeyInfo]:
    """Create (and commit) a key; returns ``(secret, info)``. The secret is shown once and never stored."""
    check_tenant(tenant)
    scopes = _check_scopes(scopes)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(id=secrets.token_hex(8), key_hash=hash_key(secret), prefix=secret[:10], tenant_id=tenant,
                    scopes=" ".join(scopes), name=name, created_at=now_utc())
    s.add(row)
    s.commit()
    return secret, _info(row)


def _info(row: ApiKeyRow) -> KeyInfo:
    return KeyInfo(row.id, row.prefix, row.tenant_id, row.scopes.split(), row.name, row.created_at,
                   row.revoked_at is not None)


def list_keys(s: Session, tenant: str | None = None) -> list[KeyInfo]:
    q = select(ApiKeyRow).order_by(ApiKeyRow.created_at)
    if tenant:
        q = q.where(ApiKeyRow.tenant_id == tenant)
    return [_info(r) for r in s.scalars(q.execution_options(populate_existing=True))]


def revoke_key(s: Session, key_id: str) -> bool:
    """Revoke by id (and commit); False when no such key exists."""
    row = s.get(ApiKeyRow, key_id)
    if row is None:
        return False
    row.revoked_at = row.revoked_at or now_utc()
    s.commit()
    return True


def authenticate(s: Session, secret: str) -> ApiKey | None:
    """The live key for a bearer secret, or None (unknown or revoked)."""
    if not secret.startswith(KEY_PREFIX) or len(secret) > 128:
        return None
    row = s.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == hash_key(secret))
                   .execution_options(populate_existing=True))
    if row is None or row.revoked_at is not None:
        return None
    return ApiKey(row.id, row.tenant_id, frozenset(row.scopes.split()), row.name)


class RateLimiter:
    """Token bucket per key: ``per_minute`` requests on average, bursts up to ``burst``."""

    def __init__(self, per_minute: int, burst: int | None = None) -> None:
        if per_minute < 1:
            raise ValueError(f"rate limit {per_minute}/min: use a positive number")
        self.rate = per_minute / 60.0
        self.burst = float(burst or max(per_minute // 6, 10))
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def peek(self, key: str) -> float:
        """0 when a request would be allowed now, else the seconds until it would; takes nothing."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def take(self, key: str) -> float:
        """0 when allowed; otherwise the seconds until a request would be allowed."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
