"""Single-process invariants: zigzag plans, the wire codec and the fp32 merge."""

from __future__ import annotations

import pytest
import torch

from engine.attention import attention, merge
from engine.parallel.ring import BlockCodec, ZigzagPlan, _merge_into


@pytest.mark.parametrize("total,world", [(37, 2), (37, 3), (41, 4), (5, 4), (64, 4)])
def test_zigzag_covers_every_position_once_and_balances(total: int, world: int) -> None:
    plans = [ZigzagPlan(total, world, r) for r in range(world)]
    held = torch.cat([p.positions() for p in plans])
    assert sorted(held.tolist()) == list(range(total))
    lens = [p.local_len() for p in plans]
    assert max(lens) - min(lens) <= 2
    for pos in range(total):
        r, i = plans[0].owner(pos)
        assert int(plans[r].positions()[i]) == pos


def test_causal_work_is_balanced() -> None:
    """Each rank's count of (query, key) pairs under the causal mask is equal up to rounding."""
    plans = [ZigzagPlan(800, 4, r) for r in range(4)]
    work = [int((p.positions() + 1).sum()) for p in plans]
    assert max(work) / min(work) < 1.01


@pytest.mark.parametrize("quant,tol", [(None, 0.0), ("int8", 0.02), ("fp8", 0.1)])
def test_codec_round_trip(quant: str | None, tol: float) -> None:
    k, v = torch.randn(2, 3, 11, 8), torch.randn(2, 3, 11, 8)
    codec = BlockCodec(k, quant)
    buf = torch.empty(codec.nbytes(11) + 5, dtype=torch.uint8)
    codec.encode(k, v, buf)
    k2, v2 = codec.decode(buf, 11)
    rel = max(((k2 - k).abs().max() / k.abs().max()).item(), ((v2 - v).abs().max() / v.abs().max()).item())
    assert rel <= tol
    if quant:
        assert codec.nbytes(11) < 2 * k.numel() * 4 / 2  # 1-byte values + an fp32 scale per 8: under half of fp32


def test_codec_rejects_unknown_quantization() -> None:
    with pytest.raises(ValueError, match="int8, fp8"):
        BlockCodec(torch.zeros(1, 1, 1, 2), "int4")


def test_merge_into_equals_engine_merge_and_full_attention() -> None:
    q, k, v = torch.randn(1, 4, 6, 8), torch.randn(1, 2, 10, 8), torch.randn(1, 2, 10, 8)
    oa, la = attention(q, k[:, :, :4], v[:, :, :4], causal=False)
    ob, lb = attention(q, k[:, :, 4:], v[:, :, 4:], causal=False)
    out, lse = torch.zeros(1, 4, 6, 8), torch.full((1, 4, 6), float("-inf"))
    _merge_into(out, lse, oa, la)
    _merge_into(out, lse, ob, lb)
    ref_out, ref_lse = merge(oa, la, ob, lb)
    full_out, full_lse = attention(q, k, v, causal=False)
    assert torch.allclose(out, ref_out, atol=1e-6) and torch.allclose(lse, ref_lse, atol=1e-6)
    assert torch.allclose(out, full_out, atol=1e-6) and torch.allclose(lse, full_lse, atol=1e-6)


def test_merge_into_is_overflow_safe() -> None:
    out, lse = torch.zeros(1, 1, 1, 2), torch.tensor([[[1e4]]])
    _merge_into(out, lse, torch.ones(1, 1, 1, 2), torch.tensor([[[1e4 + 1.0]]]))
    assert torch.isfinite(out).all() and torch.isfinite(lse).all()
