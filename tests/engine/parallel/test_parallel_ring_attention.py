"""Ring attention across 2, 3 and 4 gloo ranks equals single-process attention (output and LSE)."""

from __future__ import annotations

import pytest

from tests.helpers.ring_suite import WORLD_SIZES, suite_results
from tests.helpers.ring_workers import ATTN_CASES

EXACT = [name for name, *_, quant in ATTN_CASES if quant is None] + ["empty_chunks"]


@pytest.mark.parametrize("world", WORLD_SIZES)
@pytest.mark.parametrize("case", EXACT)
def test_ring_attention_matches_single_process(world: int, case: str) -> None:
    out_diff = max(r["attention"][case][0] for r in suite_results(world))
    lse_diff = max(r["attention"][case][1] for r in suite_results(world))
    assert out_diff <= 1e-5 and lse_diff <= 1e-5, (out_diff, lse_diff)


@pytest.mark.parametrize("world", WORLD_SIZES)
@pytest.mark.parametrize("case,tol", [("causal_int8", 0.05), ("causal_fp8", 0.25)])
def test_quantized_blocks_stay_close(world: int, case: str, tol: float) -> None:
    out_diff = max(r["attention"][case][0] for r in suite_results(world))
    assert 0.0 < out_diff <= tol, out_diff  # lossy on the wire (> 0), but close
