"""Test helpers that open the settings' database for one call (the product keeps its own `Database` objects)."""

from __future__ import annotations

from app.core.db import Database
from app.core.settings import Settings
from app.services.keys import KeyInfo, create_key


def new_key(settings: Settings, tenant: str, scopes: list[str], name: str = "") -> tuple[str, KeyInfo]:
    """``(secret, info)`` of a key created and committed in the settings' database."""
    with Database.of(settings) as db, db.sessions() as s:
        return create_key(s, tenant, scopes, name)
