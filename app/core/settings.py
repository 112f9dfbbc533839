"""One settings object for the whole service; every field is `LONGHAUL_<FIELD>` in the environment, or in a `.env`
file in the working directory (the environment wins). The data directory does not depend on the working directory
unless asked: by default it is the user's data directory (`$XDG_DATA_HOME/longhaul`, else
`~/.local/share/longhaul`); a relative `LONGHAUL_DATA_DIR` is taken from where the command runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_FILE = ".env"


def default_data_dir() -> Path:
    """The data directory when none is set: ``$XDG_DATA_HOME/longhaul``, else ``~/.local/share/longhaul`` (the
    engine's tokenizer cache follows the same rule, `engine.tokenizer.DEFAULT_CACHE`)."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "longhaul"


class Settings(BaseSettings):
    """Admin endpoints are authorised by API keys with the ``admin`` scope (`longhaul keys create`); there is no
    shared admin secret."""

    model_config = SettingsConfigDict(env_prefix="LONGHAUL_", extra="ignore", env_file=ENV_FILE,
                                      env_file_encoding="utf-8")

    environment: Literal["dev", "test", "production"] = "dev"
    data_dir: Path = Field(default_factory=default_data_dir,
                           description="tenants' indexes, SQLite, samples; default $XDG_DATA_HOME/longhaul or "
                                       "~/.local/share/longhaul; a relative path is taken from the working directory")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in data_dir")
    redis_url: str | None = Field(default=None, description="unset = embedded cache and in-process jobs")
    default_tenant: str = "demo"
    threads: int = Field(default=0, ge=0, description="torch threads; 0 = all cores")
    weights: Literal["fp32", "int8", "q4"] = Field(
        default="fp32", description="the LLM's CPU weight format: fp32 (reference), int8 or q4 (quantized kernels)")
    max_question_chars: int = Field(default=4000, gt=0)
    index_keep_versions: int = Field(default=3, ge=1,
                                     description="index versions kept on disk per tenant (the live one and the "
                                                 "newest others, for `longhaul reindex --to vN` rollback)")
    # service: queues, cache, limits, jobs
    retrieval_workers: int = Field(default=4, ge=1, description="threads answering retrieval-only questions")
    generate_workers: int = Field(default=1, ge=1, description="threads driving the LLM (one engine per process)")
    queue_max_waiting: int = Field(default=64, ge=0, description="requests allowed to wait per queue before 429")
    queue_max_wait_s: float = Field(default=30.0, gt=0, description="a request that waited longer is refused (429)")
    cache_ttl_s: int = Field(default=3600, ge=1)
    redis_prefix: str = "longhaul"
    rate_limit_per_minute: int = Field(default=6000, ge=1)
    auth_failures_per_minute: int = Field(default=60, ge=1, description="failed authentications allowed per client "
                                                                        "address (bursts of 10) before 429")
    max_body_bytes: int = Field(default=8 * 2**20, ge=1024)
    job_workers: int = Field(default=2, ge=1, description="in-process job threads when no Redis is configured")
    job_max_attempts: int = Field(default=3, ge=1)
    # writers (uploads, deletions, reindex) apart from query serving; shutdown
    ingest_isolation: Literal["process", "thread"] = Field(
        default="process", description="process: writers run in one child process at lowered priority; thread: on "
                                       "one thread of the API process")
    ingest_nice: int = Field(default=10, ge=0, le=19, description="how much the writer process lowers its priority")
    ingest_threads: int = Field(default=1, ge=1, description="compute threads of the writer process")
    ingest_max_waiting: int = Field(default=16, ge=0, description="writes allowed to wait for the writer before 429")
    shutdown_grace_s: float = Field(default=5.0, gt=0, description="on SIGTERM: seconds for requests and the writer "
                                                                   "to finish before they are cut off")
    job_visibility_timeout_s: int = Field(default=600, ge=1,
                                          description="Celery/Redis: an unacked item is redelivered after this")

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, data_dir: Path) -> Path:
        return data_dir.expanduser().absolute()  # a relative path means the working directory now, not later

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'longhaul.db').resolve()}"

    def tenant_dir(self, tenant: str) -> Path:
        return self.data_dir / "tenants" / tenant


def get_settings() -> Settings:
    """The settings read from the environment now (a fresh object: nothing is cached at module level)."""
    return Settings()
