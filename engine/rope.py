"""Rotary position embeddings: inverse frequencies and attention scaling per HF ``rope_type``.

Each variant is a plain function ``(dim, base, params, max_pos, seq_len) -> (inv_freq (dim/2,), attention_factor)``
with the parameter names of ``transformers.modeling_rope_utils`` (``factor``, ``original_max_position_embeddings``,
``low_freq_factor``, ``beta_fast``, ``long_factor``, ...). Pick one with `rope_frequencies`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from engine.config import ROPE_TYPE_NAMES

Params = dict[str, Any]


def _base_inv_freq(dim: int, base: float) -> torch.Tensor:
    return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))


def _default(dim: int, base: float, p: Params, max_pos: int, seq_len: int | None) -> tuple[torch.Tensor, float]:
    return _base_inv_freq(dim, base), 1.0


def _linear(dim: int, base: float, p: Params, max_pos: int, seq_len: int | None) -> tuple[torch.Tensor, float]:
    return _base_inv_freq(dim, base) / p["factor"], 1.0


def _dynamic(dim: int, base: float, p: Params, max_pos: int, seq_len: int | None) -> tuple[torch.Tensor, float]:
    """NTK-aware: grow the base once the sequence exceeds ``max_pos`` (no effect below it)."""
    seq = max(seq_len or max_pos, max_pos)
    factor = p["factor"]
    base = base * ((factor * seq / max_pos) - (factor - 1)) ** (dim / (dim - 2))
    return _base_inv_freq(dim, base), 1.0


def _yarn(dim: int, base: float, p: Params, max_pos: int, seq_len: int | None) -> tuple[torch.Tensor, float]:
    """YaRN (arXiv:2309.00071): interpolate low frequencies, keep high ones, ramp between; scale attention."""
    orig = p["original_max_position_embeddings"]
    factor = p.get("factor") or max_pos / orig

    def mscale(scale: float, m: float = 1.0) -> float:
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

    attn = p.get("attention_factor")
    if attn is None:
        m, m_all = p.get("mscale"), p.get("mscale_all_dim")
        attn = float(mscale(factor, m) / mscale(factor, m_all)) if m and m_all else mscale(factor)
    beta_fast, beta_slow = p.get("beta_fast") or 32, p.get("beta_slow") or 1

    def corr_dim(rot: float) -> float:
        return (dim * math.log(orig / (rot * 2 * math.pi))) / (2 * math.log(base))

    low, high = corr_dim(beta_fast), corr_dim(beta_slow)
    if p.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low), 0, 1)
    pos_freqs = base ** (torch.arange(0, dim, 2).float() / dim)
    extrapolation = 1 - ramp
    inv = (1.0 / (factor * pos_freqs)) * (1 - extrapolation) + (1.0 / pos_freqs) * extrapolation
    return inv, float(attn)


def _longrope(dim: int, base: float, p: Params, max_pos: int, seq_len: int | None) -> tuple[torch.Tensor, float]:
    """LongRoPE (Phi-3): per-frequency rescale factors, long ones beyond the original context."""
    orig = p["original_max_position_embeddings"]
    factor = p.get("factor") or max_pos / orig
    attn = p.get("attention_factor")
    if attn is None:
        attn = 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(orig))
    ext = torch.tensor(p["long_factor"] if seq_len and seq_len > orig else p["short_factor"], dtype=torch.float32)
    return 1.0 / (ext * base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim)), float(attn)


def _llama3(dim: int, base: float, p: Params, max_pos: int, seq_len: int | None) -> tuple[torch.Tensor, float]:
    """Llama 3.1: divide low frequencies by ``factor``, keep high ones, smooth in between."""
    inv = _base_inv_freq(dim, base)
    factor, lo, hi = p["factor"], p["low_freq_factor"], p["high_freq_factor"]
    old = p["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv
    out = torch.where(wavelen > old / lo, inv / factor, inv)
    smooth = (old / wavelen - lo) / (hi - lo)
    smoothed = (1 - smooth) * out / factor + smooth * out
    medium = ~(wavelen < old / hi) * ~(wavelen > old / lo)
    return torch.where(medium, smoothed, out), 1.0


ROPE_TYPES: dict[str, Callable[[int, float, Params, int, int | None], tuple[torch.Tensor, float]]] = {
    "default": _default,
    "linear": _linear,
    "dynamic": _dynamic,
    "yarn": _yarn,
    "longrope": _longrope,
    "llama3": _llama3,
}
assert tuple(ROPE_TYPES) == ROPE_TYPE_NAMES, "engine/config.py ROPE_TYPE_NAMES names these variants"


def rope_frequencies(
    head_dim: int, theta: float, scaling: Params | None, max_pos: int, seq_len: int | None = None
) -> tuple[torch.Tensor, float]:
    """Return ``(inv_freq (head_dim/2,) fp32, attention_factor)`` for a rope configuration in HF naming."""
    params = dict(scaling or {})
    kind = params.get("rope_type", params.get("type", "default"))
    if kind not in ROPE_TYPES:
        raise ValueError(f"unknown rope_type {kind!r}: supported are {', '.join(ROPE_TYPES)}")
    dim = int(head_dim * params.get("partial_rotary_factor", 1.0))
    return ROPE_TYPES[kind](dim, theta, params, max_pos, seq_len)


def rope_cos_sin(inv_freq: torch.Tensor, attention_factor: float, n_pos: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Tables ``cos, sin`` of shape (n_pos, head_dim) in fp32, HF layout (frequencies repeated twice)."""
    t = torch.arange(n_pos, dtype=torch.float32)
    freqs = torch.outer(t, inv_freq)  # (n_pos, hd/2)
    emb = torch.cat((freqs, freqs), dim=-1)  # (n_pos, hd)
    return emb.cos() * attention_factor, emb.sin() * attention_factor


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` (B, H, T, hd) by ``cos``/``sin`` (T, hd) with HF's rotate-half convention."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin
