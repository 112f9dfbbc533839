"""Tenant names and where a tenant's files live under the data directory."""

from __future__ import annotations

import fcntl
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.core.settings import Settings

TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def check_tenant(tenant: str) -> str:
    """The name itself; raises ValueError with the rule for a name that is not a safe folder name."""
    if not TENANT_RE.match(tenant):
        raise ValueError(f"tenant {tenant!r} is not a valid name: use letters, digits, '-' or '_' (max 64)")
    return tenant


def index_root(settings: Settings, tenant: str) -> Path:
    """The folder holding the tenant's index versions and its LIVE pointer."""
    return settings.tenant_dir(tenant) / "index"


def docs_dir(settings: Settings, tenant: str) -> Path:
    """The tenant's document store: every document of every source (API uploads, ingested folders) by its id."""
    return settings.tenant_dir(check_tenant(tenant)) / "docs"


@contextmanager
def tenant_lock(settings: Settings, tenant: str, wait: bool = True) -> Iterator[bool]:
    """Serialise the writers of one tenant's documents and index across threads and processes (API and CLI).

    Yields True when held; with ``wait=False`` it yields False at once when another writer holds it."""
    folder = settings.tenant_dir(check_tenant(tenant))
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+b") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
