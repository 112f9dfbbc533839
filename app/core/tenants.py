"""Tenant names and where a tenant's files live under the data directory."""

from __future__ import annotations

import re
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
    """The folder of the documents managed through the API (validates the name)."""
    return settings.tenant_dir(check_tenant(tenant)) / "docs"
