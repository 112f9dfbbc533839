"""Options shared by the commands, so one rule holds everywhere.

- ``--tenant/-t``: every command that reads or writes a tenant's data takes it; left out, it is the settings'
  ``default_tenant`` (``LONGHAUL_DEFAULT_TENANT``, ``demo`` unless set). `keys create` is the one exception: a
  key's tenant is never implied.
- ``--rerank/--no-rerank``: the cross-encoder is off unless asked, in `ask`, `search`, the API and the LangChain
  retriever alike (the default lives in `AskOptions`).
- ``--mode``: its choices are the answer modes of `AskOptions`, listed in ``--help``.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from app.services.answers.options import MODES, AskOptions

TENANT_HELP = "Tenant (default: $LONGHAUL_DEFAULT_TENANT, else 'demo')."

TenantOption = Annotated[str | None, typer.Option("--tenant", "-t", help=TENANT_HELP, show_default=False)]
RerankOption = Annotated[bool, typer.Option("--rerank/--no-rerank",
                                            help=AskOptions.model_fields["rerank"].description)]
RERANK_DEFAULT: bool = AskOptions.model_fields["rerank"].default

Mode = StrEnum("Mode", {m: m for m in MODES})  # type: ignore[misc]  # the choices typer shows: hybrid|long_context|...
MODE_DEFAULT = Mode(AskOptions.model_fields["mode"].default)


def tenant_or_default(tenant: str | None) -> str:
    """The tenant a command works on: the one given, else the settings' ``default_tenant``."""
    if tenant is not None:
        if not tenant.strip():
            raise ValueError("--tenant is empty: name a tenant, or leave it out for $LONGHAUL_DEFAULT_TENANT")
        return tenant
    from app.core.settings import get_settings

    return get_settings().default_tenant


def demo_questions(tenant: str, questions: Path | None) -> Path:
    """The ground truth an eval reads: the one given, else the `longhaul demo` sample's in the data directory."""
    if questions is not None:
        return questions
    from app.core.settings import get_settings

    return get_settings().data_dir / "samples" / f"{tenant}-200000-0" / "questions.jsonl"
