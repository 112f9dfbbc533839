"""Settings: environment overrides, SQLite default, no shared admin secret, the writer fields."""

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


def test_no_shared_admin_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Admin endpoints take an API key with the ``admin`` scope (DESIGN.md); LONGHAUL_ADMIN_SECRET, once checked
    against its default but used by nothing, is gone: production starts without it and its value opens nothing."""
    from fastapi.testclient import TestClient

    from app.api.main import create_app
    from tests.app.api.test_api_schemathesis import InstantPipeline
    from tests.helpers.fakes import HashEmbedder

    monkeypatch.setenv("LONGHAUL_ENVIRONMENT", "production")
    monkeypatch.setenv("LONGHAUL_ADMIN_SECRET", "change-me")
    settings = Settings(data_dir=tmp_path)
    assert settings.environment == "production" and "admin_secret" not in Settings.model_fields
    with TestClient(create_app(settings, pipeline=InstantPipeline(), embedder=HashEmbedder())) as client:
        for path in ("/admin/reindex", "/admin/reindex/rollback"):
            r = client.post(path, json={"version": "v000001"}, headers={"Authorization": "Bearer change-me"})
            assert r.status_code == 401, r.text


def test_writer_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("INGEST_ISOLATION", "INGEST_NICE", "INGEST_THREADS", "SHUTDOWN_GRACE_S"):
        monkeypatch.delenv(f"LONGHAUL_{var}", raising=False)
    s = Settings()
    assert (s.ingest_isolation, s.ingest_nice, s.ingest_threads, s.shutdown_grace_s) == ("process", 10, 1, 5.0)
    monkeypatch.setenv("LONGHAUL_INGEST_ISOLATION", "thread")
    assert Settings().ingest_isolation == "thread"
    monkeypatch.setenv("LONGHAUL_INGEST_ISOLATION", "fork")
    with pytest.raises(ValidationError, match="ingest_isolation"):
        Settings()


def test_defaults_are_sane(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("LONGHAUL_DATA_DIR", "LONGHAUL_DATABASE_URL", "LONGHAUL_REDIS_URL", "LONGHAUL_ENVIRONMENT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    s = Settings()
    assert s.redis_url is None
    assert s.sqlalchemy_url == f"sqlite:///{s.data_dir / 'longhaul.db'}"


def test_the_data_dir_does_not_depend_on_the_working_directory(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    monkeypatch.delenv("LONGHAUL_DATA_DIR", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    seen = set()
    for cwd in (tmp_path / "a", tmp_path / "b"):
        cwd.mkdir()
        monkeypatch.chdir(cwd)
        seen.add(Settings().data_dir)
    assert seen == {tmp_path / "home" / ".local" / "share" / "longhaul"}
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert Settings().data_dir == tmp_path / "xdg" / "longhaul"


def test_a_relative_data_dir_is_taken_from_where_the_command_runs(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LONGHAUL_DATA_DIR", "./.longhaul")
    s = Settings()
    monkeypatch.chdir("/")  # fixed when read: a later chdir does not move it
    assert s.data_dir == tmp_path / ".longhaul"
    assert s.sqlalchemy_url == f"sqlite:///{tmp_path / '.longhaul' / 'longhaul.db'}"
    monkeypatch.setenv("LONGHAUL_DATA_DIR", "~/lh")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert Settings().data_dir == tmp_path / "lh"


def test_settings_are_read_from_a_dotenv_file_and_the_environment_wins(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    for var in ("LONGHAUL_DATA_DIR", "LONGHAUL_DEFAULT_TENANT", "LONGHAUL_THREADS"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / ".env").write_text("# a comment\nLONGHAUL_DATA_DIR=/srv/longhaul\nLONGHAUL_DEFAULT_TENANT=acme\n"
                                   "LONGHAUL_THREADS=3\nOTHER_TOOL_SETTING=ignored\n")
    monkeypatch.chdir(tmp_path)
    s = Settings()
    assert (s.data_dir, s.default_tenant, s.threads) == (Path("/srv/longhaul"), "acme", 3)
    monkeypatch.setenv("LONGHAUL_THREADS", "1")
    assert Settings().threads == 1
    monkeypatch.delenv("LONGHAUL_THREADS")
    (tmp_path / ".env").write_text("LONGHAUL_THREADS=-4\n")
    with pytest.raises(ValidationError, match="threads"):
        Settings()


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
