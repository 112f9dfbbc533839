"""Run the multi-process exactness suite once per world size and share the results between test files."""

from __future__ import annotations

from functools import cache
from typing import Any

WORLD_SIZES = (2, 3, 4)


@cache
def suite_results(world: int) -> list[dict[str, Any]]:
    """Per-rank results of `tests.helpers.ring_workers.suite` for ``world`` gloo ranks (started once per session)."""
    from engine.parallel.launch import run_local
    from tests.helpers.ring_workers import suite

    return run_local(suite, world, timeout_s=120)
