"""Watching a tenant's writer from outside: the tenant lock says when a write is under way."""

from __future__ import annotations

import time

import pytest

from app.core.settings import Settings
from app.core.tenants import tenant_lock

BIG = "\n".join(f"Parcel {i:05d} left dock {i % 17} on route R{i % 23} with {i % 9} cartons." for i in range(2400))


def wait_lock(settings: Settings, tenant: str, held: bool, timeout_s: float = 60.0) -> None:
    """Until another process holds (``held``) or has released the tenant's writer lock; fails after
    ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with tenant_lock(settings, tenant, wait=False) as free:
            if free != held:
                return
        time.sleep(0.05)
    pytest.fail(f"the tenant lock was never {'taken' if held else 'released'} by the writer")
