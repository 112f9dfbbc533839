"""Settings: environment overrides, SQLite default, refusal of the default secret outside dev."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.core.settings import Settings


def test_env_overrides_every_field(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LONGHAUL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LONGHAUL_REDIS_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("LONGHAUL_THREADS", "2")
    s = Settings()
    assert s.data_dir == tmp_path
    assert s.redis_url == "redis://127.0.0.1:6379/3"
    assert s.threads == 2
    assert s.sqlalchemy_url == f"sqlite:///{(tmp_path / 'longhaul.db').resolve()}"


def test_database_url_wins_over_sqlite_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGHAUL_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    assert Settings().sqlalchemy_url.startswith("postgresql+psycopg://")


def test_default_admin_secret_refused_outside_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGHAUL_ENVIRONMENT", "production")
    monkeypatch.delenv("LONGHAUL_ADMIN_SECRET", raising=False)
    with pytest.raises(ValidationError, match="LONGHAUL_ADMIN_SECRET"):
        Settings()
    monkeypatch.setenv("LONGHAUL_ADMIN_SECRET", "s3cret-of-our-own")
    assert Settings().environment == "production"


def test_defaults_are_sane(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LONGHAUL_DATA_DIR", "LONGHAUL_DATABASE_URL", "LONGHAUL_REDIS_URL", "LONGHAUL_ENVIRONMENT"):
        monkeypatch.delenv(var, raising=False)
    s = Settings()
    assert s.data_dir == Path("./.longhaul")
    assert s.redis_url is None
    assert s.sqlalchemy_url.startswith("sqlite:///")
