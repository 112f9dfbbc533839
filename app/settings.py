"""One settings object for the whole service; every field is `LONGHAUL_<FIELD>` in the environment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_ADMIN_SECRET = "change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LONGHAUL_", extra="ignore")

    environment: Literal["dev", "test", "production"] = "dev"
    data_dir: Path = Path("./.longhaul")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in data_dir")
    redis_url: str | None = Field(default=None, description="unset = embedded cache and in-process jobs")
    admin_secret: str = DEFAULT_ADMIN_SECRET
    default_tenant: str = "demo"
    threads: int = Field(default=0, ge=0, description="torch threads; 0 = all cores")
    max_question_chars: int = Field(default=4000, gt=0)

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment != "dev" and self.admin_secret == DEFAULT_ADMIN_SECRET:
            raise ValueError(
                f"LONGHAUL_ADMIN_SECRET is the default {DEFAULT_ADMIN_SECRET!r} in environment "
                f"{self.environment!r}: set LONGHAUL_ADMIN_SECRET to a secret of your own"
            )
        return self

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'longhaul.db').resolve()}"

    def tenant_dir(self, tenant: str) -> Path:
        return self.data_dir / "tenants" / tenant


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
