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


SERVICE_DEFAULTS = {"retrieval_workers": 4, "generate_workers": 1, "queue_max_waiting": 64, "queue_max_wait_s": 30.0,
                    "cache_ttl_s": 3600, "redis_prefix": "longhaul", "rate_limit_per_minute": 6000,
                    "max_body_bytes": 8 * 2**20, "job_workers": 2, "job_max_attempts": 3,
                    "job_visibility_timeout_s": 600}


def test_service_fields_default_and_read_their_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SERVICE_DEFAULTS:
        monkeypatch.delenv(f"LONGHAUL_{name.upper()}", raising=False)
    assert {name: getattr(Settings(), name) for name in SERVICE_DEFAULTS} == SERVICE_DEFAULTS
    overrides = {"retrieval_workers": "7", "queue_max_wait_s": "2.5", "redis_prefix": "lh2",
                 "job_visibility_timeout_s": "6"}
    for name, raw in overrides.items():
        monkeypatch.setenv(f"LONGHAUL_{name.upper()}", raw)
    s = Settings()
    assert (s.retrieval_workers, s.queue_max_wait_s, s.redis_prefix, s.job_visibility_timeout_s) == (7, 2.5, "lh2", 6)
    monkeypatch.setenv("LONGHAUL_JOB_WORKERS", "0")
    with pytest.raises(ValidationError, match="job_workers"):
        Settings()
