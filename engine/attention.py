"""Attention of a block of queries against a block of keys, returning ``(out, lse)``.

The log-sum-exp lets callers merge partial results exactly (`merge`): ring attention across ranks, chunked
prefill against a split cache, or a compressed cache plus a recent window. All backends share one signature::

    attention(q, k, v, causal=True, q_offset=None, scale=None, backend="auto") -> (out, lse)
    q: (B, Hq, Tq, D)    k, v: (B, Hkv, Tk, D) with Hq % Hkv == 0 (grouped-query attention)
    out: (B, Hq, Tq, D) in q's dtype    lse: (B, Hq, Tq) fp32, natural log, over the keys attended

``causal`` places query ``i`` at absolute position ``q_offset + i`` and key ``j`` at position ``j``; a query sees keys
at positions <= its own. ``q_offset=None`` means ``Tk - Tq`` (the queries are the last ``Tq`` positions).
Backends: ``sdpa`` (CPU flash kernel; cuDNN on CUDA), ``flash`` (SDPA's flash kernel on CUDA), ``flex``
(``flex_attention``), ``flash_attn`` (the flash-attn package, when installed) and ``math`` (the reference).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any, cast

import torch

Backend = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, bool, int, float], tuple[torch.Tensor, torch.Tensor]]


def _causal_mask(tq: int, tk: int, q_offset: int, device: torch.device) -> torch.Tensor:
    """(Tq, Tk) bool, True where query i (position q_offset + i) may see key j."""
    qpos = torch.arange(tq, device=device)[:, None] + q_offset
    return torch.arange(tk, device=device)[None, :] <= qpos


def _needs_mask(causal: bool, tq: int, tk: int, q_offset: int) -> bool:
    """A mask is needed unless every query sees every key (non-causal, or all keys before the first query)."""
    return causal and q_offset < tk - 1


def _expand_kv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    group = q.shape[1] // k.shape[1]
    if group == 1:
        return k, v
    return k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)


def _math(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, q_offset: int,
          scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    k, v = _expand_kv(q, k, v)
    scores = (q.float() @ k.float().transpose(-2, -1)) * scale  # (B, H, Tq, Tk)
    if causal:
        scores = scores.masked_fill(~_causal_mask(q.shape[2], k.shape[2], q_offset, q.device), float("-inf"))
    lse = torch.logsumexp(scores, dim=-1)  # (B, H, Tq)
    out = torch.exp(scores - lse[..., None]) @ v.float()
    return out.to(q.dtype), lse


def _sdpa_kernel(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, scale: float,
                 mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One fused SDPA call returning the LSE: the CPU flash kernel, or cuDNN on CUDA (causal = top-left)."""
    if q.device.type == "cpu":
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            q, k, v, 0.0, causal, attn_mask=mask, scale=scale)
        return out, lse
    k, v = _expand_kv(q, k, v)
    bias = None if mask is None else mask.expand(q.shape[0], q.shape[1], q.shape[2], k.shape[2])
    try:
        res = torch.ops.aten._scaled_dot_product_cudnn_attention(q, k, v, bias, True, 0.0, causal, False, scale=scale)
    except RuntimeError:  # shape or dtype cuDNN does not take: flash (no mask) or the math reference
        return _math(q, k, v, causal, 0, scale) if mask is not None else _flash(q, k, v, causal, 0, scale)
    return res[0], res[1].reshape(q.shape[:3]).float()


def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, q_offset: int,
          scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    tq, tk = q.shape[2], k.shape[2]
    if not _needs_mask(causal, tq, tk, q_offset):
        return _sdpa_kernel(q, k, v, False, scale)
    if q_offset == 0 and tq == tk:
        return _sdpa_kernel(q, k, v, True, scale)
    if 0 < q_offset and q_offset + tq == tk:  # a chunk after cached keys: full prefix + causal diagonal, merged
        prefix = _sdpa_kernel(q, k[:, :, :q_offset], v[:, :, :q_offset], False, scale)
        diagonal = _sdpa_kernel(q, k[:, :, q_offset:], v[:, :, q_offset:], True, scale)
        return merge(*prefix, *diagonal)
    allowed = _causal_mask(tq, tk, q_offset, q.device)
    mask = torch.zeros(tq, tk, dtype=q.dtype, device=q.device).masked_fill_(~allowed, float("-inf"))
    return _sdpa_kernel(q, k, v, False, scale, mask)


def _flash(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, q_offset: int,
           scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    if q.device.type == "cpu":
        return _sdpa(q, k, v, causal, q_offset, scale)
    tq, tk = q.shape[2], k.shape[2]
    if _needs_mask(causal, tq, tk, q_offset) and not (q_offset == 0 and tq == tk):
        raise ValueError("the SDPA flash backend supports only full causal or non-causal blocks: use backend='sdpa'")
    k, v = _expand_kv(q, k, v)
    res = torch.ops.aten._scaled_dot_product_flash_attention(q, k, v, 0.0, causal and tq > 1, False, scale=scale)
    return res[0], res[1].float()


def _flex(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, q_offset: int,
          scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    from torch.nn.attention import flex_attention as fa

    block_mask = None
    if _needs_mask(causal, q.shape[2], k.shape[2], q_offset):
        def mask_mod(b: torch.Tensor, h: torch.Tensor, qi: torch.Tensor, kj: torch.Tensor) -> torch.Tensor:
            return kj <= qi + q_offset

        block_mask = fa.create_block_mask(mask_mod, None, None, q.shape[2], k.shape[2], device=q.device.type)
    fn = cast(Callable[..., Any], _compiled_flex() if q.device.type == "cuda" else fa.flex_attention)
    if hasattr(fa, "AuxRequest"):
        out, aux = fn(q, k, v, block_mask=block_mask, scale=scale, enable_gqa=True, return_aux=fa.AuxRequest(lse=True))
        return out, aux.lse.float()
    out, lse = fn(q, k, v, block_mask=block_mask, scale=scale, enable_gqa=True, return_lse=True)
    return out, lse.float()


@functools.cache
def _compiled_flex() -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention, dynamic=False)  # type: ignore[return-value]


def _flash_attn(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, q_offset: int,
                scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        from flash_attn import flash_attn_func
    except ImportError as exc:
        raise ValueError("backend 'flash_attn' needs the flash-attn package: `pip install flash-attn`") from exc
    if q_offset != k.shape[2] - q.shape[2] and _needs_mask(causal, q.shape[2], k.shape[2], q_offset):
        raise ValueError("flash-attn aligns causal masks bottom-right: q_offset must be Tk - Tq")
    out, lse, _ = flash_attn_func(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), softmax_scale=scale,
                                  causal=causal, return_attn_probs=True)
    return out.transpose(1, 2), lse.float()


def _gqa_single(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float,
                pos: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One query per sequence against every key (keys after a device-side ``pos`` masked when given).

    The GQA group is folded into the query axis so each key is read once and never copied per query head: decode
    is a read of the cache, and this keeps it one read. Static shapes and no host sync, as CUDA graphs need.
    """
    B, H, tq, D = q.shape
    hkv, tk = k.shape[1], k.shape[2]
    assert tq == 1, "single-query attention serves one-token decode"
    qg = q.reshape(B, hkv, H // hkv, D)  # (B, Hkv, G, D)
    scores = (qg @ k.transpose(-1, -2)).float() * scale  # (B, Hkv, G, Tk)
    if pos is not None:
        scores = scores.masked_fill(torch.arange(tk, device=q.device) > pos, float("-inf"))
    lse = torch.logsumexp(scores, dim=-1)  # (B, Hkv, G)
    out = torch.exp(scores - lse[..., None]).to(v.dtype) @ v  # (B, Hkv, G, D)
    return out.reshape(B, H, 1, D), lse.reshape(B, H, 1)


DECODE_KERNELS = True  # the Triton decode kernels (engine/decode_kernel.py) where they can run; False: torch ops
KERNELS_ON_CPU = False  # tests: run them on CPU tensors too (needs TRITON_INTERPRET=1 before Triton is imported)


@functools.cache
def _kernel_module() -> ModuleType | None:
    try:
        import engine.decode_kernel as kernels
    except ImportError:  # no Triton (a CPU-only install): decode uses the torch ops below
        return None
    return kernels


def decode_kernels(x: torch.Tensor) -> ModuleType | None:
    """`engine.decode_kernel` if its Triton kernels can run on ``x``'s device (CUDA; or the CPU when
    `KERNELS_ON_CPU` is set under ``TRITON_INTERPRET=1``, as the tests run them) and `DECODE_KERNELS` is on."""
    interpreted = KERNELS_ON_CPU and os.environ.get("TRITON_INTERPRET") == "1"
    if not DECODE_KERNELS or not (x.is_cuda or interpreted):
        return None
    return _kernel_module()


@functools.cache
def _positions(n: int, device: torch.device) -> torch.Tensor:
    """``arange(n)`` on ``device``, made once (decode masks by position every step)."""
    return torch.arange(n, device=device)


def _decode_out(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float,
                pos: torch.Tensor | None) -> torch.Tensor:
    """`_gqa_single`'s output without the LSE, in as few kernels as decode can take (8 per layer)."""
    B, H, _, D = q.shape
    hkv, tk = k.shape[1], k.shape[2]
    scores = ((q * scale).reshape(B, hkv, H // hkv, D) @ k.transpose(-1, -2)).float()  # (B, Hkv, G, Tk)
    if pos is not None:
        scores = scores.masked_fill(_positions(tk, q.device) > pos, float("-inf"))
    probs = torch.softmax(scores, dim=-1).to(v.dtype)
    return (probs @ v).reshape(B, H, 1, D)


def _decode_at(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, pos: torch.Tensor,
               scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One query at a device-side position ``pos`` against a whole (partly empty) cache; later keys masked."""
    return _gqa_single(q, k, v, scale, pos)


BACKENDS: dict[str, Backend] = {"sdpa": _sdpa, "flash": _flash, "flex": _flex, "flash_attn": _flash_attn,
                                "math": _math}


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = True,
              q_offset: int | torch.Tensor | None = None, scale: float | None = None,
              backend: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention of ``q`` against ``k, v``; see the module docstring for shapes.

    A tensor ``q_offset`` (decode, Tq = 1) means: the query sits at that device-side position and every key after
    it is masked (static shapes for CUDA graphs).
    """
    if isinstance(q_offset, torch.Tensor):
        return _decode_at(q, k, v, q_offset, scale if scale is not None else 1.0 / math.sqrt(q.shape[-1]))
    if backend == "auto":
        backend = "sdpa"
    if backend not in BACKENDS:
        raise ValueError(f"unknown attention backend {backend!r}: choose one of auto, {', '.join(BACKENDS)}")
    if q.shape[1] % k.shape[1]:
        raise ValueError(f"query heads ({q.shape[1]}) must be a multiple of key heads ({k.shape[1]})")
    offset = k.shape[2] - q.shape[2] if q_offset is None else q_offset
    return BACKENDS[backend](q, k, v, causal, offset, scale if scale is not None else 1.0 / math.sqrt(q.shape[-1]))


def merge(out_a: torch.Tensor, lse_a: torch.Tensor, out_b: torch.Tensor,
          lse_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Combine attention over two disjoint key blocks into attention over their union (exact).

    ``out_*``: (B, H, Tq, D), ``lse_*``: (B, H, Tq). A block with no visible key has lse ``-inf`` and weight 0.
    """
    lse = torch.logaddexp(lse_a, lse_b)
    wa = torch.exp(lse_a - lse).nan_to_num(0.0)[..., None]
    wb = torch.exp(lse_b - lse).nan_to_num(0.0)[..., None]
    out = out_a.float() * wa + out_b.float() * wb
    return out.to(out_a.dtype), lse


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, q_offset: int | torch.Tensor,
           backend: str = "auto") -> torch.Tensor:
    """Attention output only (the model's path: no caller needs the LSE), causal at ``q_offset``.

    Shapes as `attention`. With ``backend="auto"`` on CUDA: one-token decode reads the cache once per KV head
    (`_gqa_single`); a whole causal block or an unmasked one goes to PyTorch's fused SDPA with native GQA (no
    expanded K/V copies); a chunk after cached keys falls back to `attention` (prefix + diagonal, merged by LSE).
    Everything else, and every explicit backend, is `attention(...)[0]`.
    """
    if backend == "auto" and q.is_cuda:
        tq, tk = q.shape[2], k.shape[2]
        scale = 1.0 / math.sqrt(q.shape[-1])
        one = tq == 1 and (isinstance(q_offset, torch.Tensor) or q_offset >= tk - 1)
        kernels = decode_kernels(q) if one else None
        if kernels is not None and kernels.supports(q.shape[1], k.shape[1], q.shape[-1]):
            pos = q_offset if isinstance(q_offset, torch.Tensor) else None
            return kernels.decode_attention(q, k.contiguous() if k.stride(-1) != 1 else k,
                                            v.contiguous() if v.stride(-1) != 1 else v, scale, pos)
        if isinstance(q_offset, torch.Tensor):  # CUDA-graph decode: whole cache, keys after the position masked
            return _decode_out(q, k, v, scale, q_offset)
        if one:
            return _decode_out(q, k, v, scale, None)
        full_causal = q_offset == 0 and tq == tk
        if full_causal or not _needs_mask(True, tq, tk, q_offset):
            return torch.nn.functional.scaled_dot_product_attention(
                q, k, v, is_causal=full_causal and tq > 1, scale=scale, enable_gqa=k.shape[1] != q.shape[1])
    return attention(q, k, v, causal=True, q_offset=q_offset, backend=backend)[0]
