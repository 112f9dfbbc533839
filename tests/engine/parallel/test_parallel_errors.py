"""Bad input fails with a clear error on every rank, never a hang."""

from __future__ import annotations

import pytest

from engine.parallel import ZigzagPlan
from engine.parallel.launch import run_local
from tests.helpers.ring_workers import mismatched_config, rank_dies


def test_world_larger_than_sequence_is_rejected() -> None:
    with pytest.raises(ValueError, match="cannot be split across 4 ranks"):
        ZigzagPlan(3, 4, 0)


def test_mismatched_configs_raise_on_every_rank() -> None:
    messages = run_local(mismatched_config, 2, timeout_s=30)
    assert all("model config differs across ranks" in m for m in messages), messages


def test_dead_rank_gives_an_error_not_a_hang() -> None:
    results = run_local(rank_dies, 2, timeout_s=5)
    assert results[1] == "left"
    assert results[0].startswith("error"), results
