"""The planner's KV byte formulas against what engine/kv really stores, on small synthetic caches on CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from engine.kv import FORMATS, AdaKV, CompressedKVCache, KVSpec, Policy, ScoreInputs
from engine.kv.store import QuantStore
from planner.kv_bytes import adakv_stored_tokens, quant_kv_bytes
from planner.rates import kv_bytes, kv_bytes_per_token, resolve_model

ROOT = Path(__file__).resolve().parents[2]


def test_planner_imports_no_torch() -> None:
    """The planner reads engine's torch-free format table only: importing every planner module loads no torch."""
    code = ("import sys, planner, planner.kv_bytes, planner.rates, planner.strategies, planner.validate.run; "
            "sys.exit('torch' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    assert subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT).returncode == 0


@pytest.mark.parametrize("name", sorted(FORMATS))
@pytest.mark.parametrize("total", [5, 40, 97, 130])
def test_quant_bytes_equal_quant_store(name: str, total: int) -> None:
    """Prefill in chunks of 16, then decode one token at a time: the formula matches `QuantStore.used_bytes`."""
    layers, heads, dim, prompt = 2, 2, 8, min(total, 37)
    store = QuantStore(layers, 1, heads, 160, dim, FORMATS[name], torch.float32, "cpu")
    torch.manual_seed(0)
    steps = [16] * (prompt // 16) + ([prompt % 16] if prompt % 16 else []) + [1] * (total - prompt)
    for t in steps:
        for layer in range(layers):
            store.append(layer, torch.randn(1, heads, t, dim), torch.randn(1, heads, t, dim))
    assert store.used_bytes() == quant_kv_bytes(layers, heads, dim, total, FORMATS[name], 4)


def test_int4_per_token_bytes_are_kivi_layout() -> None:
    cfg = resolve_model("llama3-8b")
    # keys: 64 B codes + fp16 scale and zero per channel per 32 tokens (16 B); values: 64 B + scale and zero (4 B)
    assert kv_bytes_per_token(cfg, "int4") == 32 * 8 * (64 + 16 + 64 + 4)
    tail = 64 + (1000 - 64) % 32  # full-precision bf16 tokens
    assert kv_bytes(cfg, 1000, "int4") == 32 * 8 * ((1000 - tail) * 148 + tail * 2 * 128 * 2)
    assert kv_bytes(cfg, 1000, "bf16") == 1000 * kv_bytes_per_token(cfg, "bf16")


@dataclass
class _Fixed(Policy):
    """Synthetic scores: ``skew`` gives head 0 every high score; otherwise the heads alternate (equal shares)."""

    skew: bool = True

    def score(self, inputs: ScoreInputs) -> torch.Tensor:
        B, H, n = inputs.keys.shape[:3]
        pos = torch.arange(n, dtype=torch.float32)
        rows = [pos + (1000.0 if h == 0 else 0.0) if self.skew else pos * H + h for h in range(H)]
        return torch.stack(rows).expand(B, H, n)


@pytest.mark.parametrize(
    ("heads", "ratio", "skew", "share"),
    [(2, 4.0, True, 1.0), (2, 4.0, False, 0.5), (3, 4.0, True, 1.0), (3, 2.0, True, 1.0)],
)
def test_adakv_bytes_equal_padded_cache(heads: int, ratio: float, skew: bool, share: float) -> None:
    """The cache stores every head padded to the largest head's share; the formula predicts it exactly."""
    layers, dim, n, window = 2, 8, 64, 4
    policy = AdaKV(inner=_Fixed(ratio=ratio, window=window, skew=skew))
    cache = CompressedKVCache(KVSpec(policy, "fp32"), layers, heads, dim, n, prompt_len=n)
    torch.manual_seed(0)
    for layer in range(layers):
        k, v, q = torch.randn(1, heads, n, dim), torch.randn(1, heads, n, dim), torch.randn(1, 2 * heads, n, dim)
        cache.write(layer, 0, k, v, q=q)
    stored = adakv_stored_tokens(int(-(-n // ratio)), n, heads, window, policy.alpha_safeguard, share)
    assert stored == float(int(stored))
    assert cache.stats()["kv_bytes"] == layers * heads * stored * 2 * dim * 4
    if not skew:
        assert stored == n / ratio  # equal shares: no padding


def test_adakv_share_bounds() -> None:
    assert adakv_stored_tokens(100, 400, 4, 32, 0.2, 0.0) == 100  # below 1 / heads: no padding, never less
    assert adakv_stored_tokens(100, 400, 4, 32, 0.2, 1.0) == 32 + 4 * 68  # one head takes every free pair
    assert adakv_stored_tokens(100, 200, 4, 32, 0.2, 1.0) == 200  # capped at the tokens seen
    with pytest.raises(ValueError, match="head_share"):
        adakv_stored_tokens(100, 400, 4, 32, 0.2, 1.5)
