"""The SnapKV variants of eval/kv/snapkv_variants.py are what they say: shared heads keep one set per layer."""

from __future__ import annotations

import torch

from engine.kv import ScoreInputs, SnapKV
from eval.kv.snapkv_variants import SnapKVSharedHeads, SnapKVWindow64, variants


def _inputs(n: int = 200, hq: int = 6, hkv: int = 3, w: int = 64) -> ScoreInputs:
    g = torch.Generator().manual_seed(1)
    keys, values = torch.randn(1, hkv, n, 16, generator=g), torch.randn(1, hkv, n, 16, generator=g)
    return ScoreInputs(keys, values, torch.randn(1, hq, w, 16, generator=g), 0, 2, None)


def test_shared_heads_keep_the_same_tokens_in_every_kv_head() -> None:
    inp = _inputs()
    shared = SnapKVSharedHeads(ratio=4.0).keep_indices(inp, 200)
    own = SnapKV(ratio=4.0).keep_indices(inp, 200)
    assert shared is not None and own is not None and shared.shape == own.shape  # same budget
    assert all(torch.equal(shared[0, 0].sort().values, shared[0, h].sort().values) for h in range(1, 3))
    assert not all(torch.equal(own[0, 0].sort().values, own[0, h].sort().values) for h in range(1, 3))


def test_variants_differ_only_in_their_named_setting() -> None:
    assert SnapKVWindow64(ratio=4.0).window == 64 and SnapKVWindow64(ratio=4.0).kernel == SnapKV(ratio=4.0).kernel
    names = [spec.policy.name for _, spec in variants() if spec.policy is not None]
    assert len(set(names)) == len(names) == 7 and all(where == "inside" for where, _ in variants())
