"""Rotary variants against transformers' rope initialisation; attention backends against the math reference."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from engine.attention import BACKENDS, attention, merge
from engine.rope import ROPE_TYPES, rope_frequencies

ROPES: dict[str, dict[str, Any]] = {
    "default": {"rope_type": "default"},
    "linear": {"rope_type": "linear", "factor": 4.0},
    "dynamic": {"rope_type": "dynamic", "factor": 2.0},
    "yarn": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 1024, "beta_fast": 32,
             "beta_slow": 1},
    "longrope": {"rope_type": "longrope", "original_max_position_embeddings": 1024,
                 "long_factor": [1.0 + i / 8 for i in range(32)], "short_factor": [1.0 + i / 64 for i in range(32)]},
    "llama3": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 1024},
}


@pytest.mark.parametrize("kind", list(ROPE_TYPES))
@pytest.mark.parametrize("seq_len", [None, 8192])
def test_rope_matches_transformers(kind: str, seq_len: int | None) -> None:
    from transformers import LlamaConfig
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    params = {**ROPES[kind], "rope_theta": 10000.0}
    cfg = LlamaConfig(hidden_size=512, num_attention_heads=8, max_position_embeddings=4096, rope_parameters=params)
    if kind == "default":
        ref_inv = 1.0 / (10000.0 ** (torch.arange(0, 64, 2).float() / 64))
        ref_scale = 1.0
    else:
        ref_inv, ref_scale = ROPE_INIT_FUNCTIONS[kind](cfg, "cpu", seq_len)
    inv, scale = rope_frequencies(64, 10000.0, ROPES[kind], 4096, seq_len)
    torch.testing.assert_close(inv, ref_inv.float(), rtol=1e-6, atol=0)
    assert scale == pytest.approx(ref_scale)


CASES = [  # (Tq, Tk, causal, q_offset)
    (16, 16, True, 0), (1, 40, True, 39), (8, 40, True, 32), (8, 40, False, 0), (8, 40, True, 10), (5, 30, True, 100),
]


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b not in ("math", "flash_attn")])
@pytest.mark.parametrize(("tq", "tk", "causal", "off"), CASES)
def test_attention_backends_match_math(backend: str, tq: int, tk: int, causal: bool, off: int) -> None:
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 6, tq, 32, generator=g)
    k, v = torch.randn(2, 2, tk, 32, generator=g), torch.randn(2, 2, tk, 32, generator=g)
    ref_out, ref_lse = attention(q, k, v, causal=causal, q_offset=off, backend="math")
    out, lse = attention(q, k, v, causal=causal, q_offset=off, backend=backend)
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(lse, ref_lse, atol=1e-5, rtol=1e-5)


def test_merge_of_key_blocks_equals_full_attention() -> None:
    g = torch.Generator().manual_seed(1)
    q, k, v = torch.randn(1, 4, 12, 16, generator=g), torch.randn(1, 4, 50, 16, generator=g), torch.randn(
        1, 4, 50, 16, generator=g)
    full, full_lse = attention(q, k, v, causal=True, q_offset=38)
    a, lse_a = attention(q, k[:, :, :20], v[:, :, :20], causal=False)  # keys 0..19 precede every query
    b, lse_b = attention(q, k[:, :, 20:], v[:, :, 20:], causal=True, q_offset=18)  # queries at 38.. vs keys 20..
    out, lse = merge(a, lse_a, b, lse_b)
    torch.testing.assert_close(out, full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(lse, full_lse, atol=1e-5, rtol=1e-5)


def test_attention_bad_input() -> None:
    q, k = torch.randn(1, 3, 4, 8), torch.randn(1, 2, 4, 8)
    with pytest.raises(ValueError, match="multiple"):
        attention(q, k, k)
    with pytest.raises(ValueError, match="choose one of"):
        attention(q, q, q, backend="xformers")
def test_decode_out_equals_the_reference_with_and_without_a_device_position() -> None:
    """The CUDA decode kernel sequence (scaled QK^T, mask, softmax, PV; GQA folded) is plain attention."""
    from engine.attention import _decode_out

    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, h, t, 32, generator=g) for h, t in ((6, 1), (2, 40), (2, 40)))
    ref = attention(q, k[:, :, :26], v[:, :, :26], causal=True, backend="math")[0]  # query at position 25
    torch.testing.assert_close(_decode_out(q, k, v, 32**-0.5, torch.tensor(25)), ref, atol=1e-5, rtol=1e-5)
    full = attention(q, k, v, causal=True, backend="math")[0]
    torch.testing.assert_close(_decode_out(q, k, v, 32**-0.5, None), full, atol=1e-5, rtol=1e-5)
