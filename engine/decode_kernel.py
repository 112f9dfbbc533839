"""Split-KV decode attention in Triton ("flash-decoding"): one query token against a long cache, two kernels.

Decode reads the whole KV cache once per token, and with one query per sequence the GPU has only B * Hkv (say 8)
units of work. The split kernel deals each (sequence, KV head) cache's blocks of 64 keys round-robin to ``S``
programs read in parallel (round-robin, so all S stay busy however short the filled part of a long cache); each
program holds the GQA group's queries (G of them, padded to 16 rows for ``tl.dot``), streams its slice of keys
and values once with an online softmax, and writes a partial output and its log-sum-exp. The reduce kernel merges
the S partials exactly. Keys after the device-side position ``pos`` are never read (the loop stops there), so
the shapes stay static for CUDA graphs while the work follows the real length.

`rope_write` is decode's other fused step: it rotates the new token's queries and keys (HF's rotate-half) and writes
the keys and values into the cache at ``pos``, one kernel for what is otherwise about seven.

Shapes: q (B, H, 1, D); k, v (B, Hkv, T, D) with any strides but a unit stride on D; pos a 0-d or (1,) int64
tensor (the query's position; keys ``> pos`` are masked) or None (every key visible). Output (B, H, 1, D) in q's
dtype. Runs under ``TRITON_INTERPRET=1`` on the CPU, which is how the tests check it against the reference.
"""

from __future__ import annotations

import functools

import torch
import triton
import triton.language as tl

BLOCK = 64  # keys per inner step
G_PAD = 16  # tl.dot needs at least 16 rows


@triton.jit
def _split_kernel(Q, K, V, POS, OUT, LSE, scale, T, S,
                  sqb, sqh, skb, skh, skt, svb, svh, svt, sob, soh, sos, slb, slh, sls,
                  G: tl.constexpr, D: tl.constexpr, BLOCK_N: tl.constexpr, GP: tl.constexpr,
                  HAS_POS: tl.constexpr):
    b = tl.program_id(0)
    h = tl.program_id(1)
    s = tl.program_id(2)
    rows = tl.arange(0, GP)
    dims = tl.arange(0, D)
    row_ok = rows < G
    q = tl.load(Q + b * sqb + (h * G + rows)[:, None] * sqh + dims[None, :], mask=row_ok[:, None], other=0.0)
    last = T - 1
    if HAS_POS:
        last = tl.minimum(tl.load(POS).to(tl.int32), T - 1)
    end = last + 1
    m = tl.full([GP], float("-inf"), tl.float32)
    l_sum = tl.zeros([GP], tl.float32)
    acc = tl.zeros([GP, D], tl.float32)
    kb = K + b * skb + h * skh
    vb = V + b * svb + h * svh
    for blk in range(s, tl.cdiv(end, BLOCK_N), S):  # blocks dealt round-robin: every slice busy at any pos
        cols = blk * BLOCK_N + tl.arange(0, BLOCK_N)
        ok = cols < end
        k = tl.load(kb + cols[:, None] * skt + dims[None, :], mask=ok[:, None], other=0.0)  # (BLOCK_N, D)
        sc = tl.dot(q, tl.trans(k)).to(tl.float32) * scale  # (GP, BLOCK_N)
        sc = tl.where(ok[None, :], sc, float("-inf"))
        m_new = tl.maximum(m, tl.max(sc, 1))
        p = tl.exp(sc - m_new[:, None])
        alpha = tl.exp(m - m_new)
        v = tl.load(vb + cols[:, None] * svt + dims[None, :], mask=ok[:, None], other=0.0)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v).to(tl.float32)
        l_sum = l_sum * alpha + tl.sum(p, 1)
        m = m_new
    has = l_sum > 0
    out = acc / tl.where(has, l_sum, 1.0)[:, None]
    lse = tl.where(has, m + tl.log(tl.where(has, l_sum, 1.0)), float("-inf"))
    tl.store(OUT + b * sob + (h * G + rows)[:, None] * soh + s * sos + dims[None, :], out, mask=row_ok[:, None])
    tl.store(LSE + b * slb + (h * G + rows) * slh + s * sls, lse, mask=row_ok)


@triton.jit
def _reduce_kernel(PART, LSE, OUT, S, spb, sph, sps, slb, slh, sls, sob, soh,
                   D: tl.constexpr, SP: tl.constexpr):
    b = tl.program_id(0)
    h = tl.program_id(1)
    splits = tl.arange(0, SP)
    ok = splits < S
    lse = tl.load(LSE + b * slb + h * slh + splits * sls, mask=ok, other=float("-inf"))
    top = tl.max(lse, 0)
    w = tl.exp(lse - top)
    w = w / tl.sum(w, 0)
    dims = tl.arange(0, D)
    part = tl.load(PART + b * spb + h * sph + splits[:, None] * sps + dims[None, :], mask=ok[:, None], other=0.0)
    out = tl.sum(part * w[:, None], 0)
    tl.store(OUT + b * sob + h * soh + dims, out.to(OUT.dtype.element_ty))


@triton.jit
def _rope_write_kernel(QKV, COS, SIN, POS, QO, KC, VC, sxb, sqb, sqh, skb, skh, skt, svb, svh, svt,
                       H: tl.constexpr, HKV: tl.constexpr, D: tl.constexpr):
    b = tl.program_id(0)
    j = tl.program_id(1)  # head j of the fused q | k | v row
    dims = tl.arange(0, D)
    half = D // 2
    x = tl.load(QKV + b * sxb + j * D + dims).to(tl.float32)
    if j < H + HKV:  # rotate: x * cos + rotate_half(x) * sin, rotate_half(x) = (-x[half:], x[:half])
        partner = tl.load(QKV + b * sxb + j * D + (dims + half) % D).to(tl.float32)
        partner = tl.where(dims < half, -partner, partner)
        x = x * tl.load(COS + dims).to(tl.float32) + partner * tl.load(SIN + dims).to(tl.float32)
    pos = tl.load(POS)
    if j < H:
        tl.store(QO + b * sqb + j * sqh + dims, x.to(QO.dtype.element_ty))
    elif j < H + HKV:
        tl.store(KC + b * skb + (j - H) * skh + pos * skt + dims, x.to(KC.dtype.element_ty))
    else:
        tl.store(VC + b * svb + (j - H - HKV) * svh + pos * svt + dims, x.to(VC.dtype.element_ty))


def rope_write(qkv: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, pos: torch.Tensor, k_cache: torch.Tensor,
               v_cache: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Rotated queries (B, H, 1, D) of one decode token; its rotated keys and its values go into the caches.

    ``qkv`` (B, 1, (H + 2 Hkv) D): the fused projection, q | k | v heads in order; ``cos``, ``sin`` (1, D) or (D,):
    the rotary row of the position; ``pos``: device-side int64 position; ``k_cache``, ``v_cache`` (B, Hkv, T, D).
    """
    B, tq, width = qkv.shape
    hkv, D = k_cache.shape[1], k_cache.shape[3]
    if tq != 1 or width != (n_heads + 2 * hkv) * D or qkv.stride(-1) != 1 or k_cache.stride(-1) != 1:
        raise ValueError("rope_write takes one token's fused q|k|v row and unit-stride caches")
    q = torch.empty(B, n_heads, 1, D, dtype=qkv.dtype, device=qkv.device)
    _rope_write_kernel[(B, n_heads + 2 * hkv)](
        qkv, cos.contiguous(), sin.contiguous(), pos, q, k_cache, v_cache, qkv.stride(0), q.stride(0), q.stride(1),
        k_cache.stride(0), k_cache.stride(1), k_cache.stride(2), v_cache.stride(0), v_cache.stride(1),
        v_cache.stride(2), H=n_heads, HKV=hkv, D=D)
    return q


@functools.cache
def _n_sm(device: torch.device) -> int:
    if device.type != "cuda":
        return 8
    return torch.cuda.get_device_properties(device).multi_processor_count


def n_splits(batch: int, n_kv: int, length: int, device: torch.device) -> int:
    """Slices per (sequence, KV head): about two programs per SM, never a slice shorter than one block."""
    want = max(1, -(-2 * _n_sm(device) // (batch * n_kv)))
    return max(1, min(want, -(-length // BLOCK)))


def supports(n_heads: int, n_kv_heads: int, head_dim: int) -> bool:
    """Whether these kernels take this attention shape (a power-of-two head dim >= 16, at most G_PAD per group)."""
    return head_dim >= 16 and not head_dim & (head_dim - 1) and n_heads % n_kv_heads == 0 \
        and n_heads // n_kv_heads <= G_PAD


def decode_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float,
                     pos: torch.Tensor | None = None) -> torch.Tensor:
    """Attention output (B, H, 1, D) of one query per head against ``k, v`` (B, Hkv, T, D); see the module doc."""
    B, H, tq, D = q.shape
    hkv, T = k.shape[1], k.shape[2]
    if tq != 1 or k.stride(-1) != 1 or v.stride(-1) != 1 or q.stride(-1) != 1 or not supports(H, hkv, D):
        raise ValueError(f"decode_attention takes one query token with unit-stride head dims, a power-of-two head "
                         f"dim >= 16 and at most {G_PAD} query heads per KV head; got q {tuple(q.shape)}, "
                         f"k {tuple(k.shape)}")
    G = H // hkv
    S = n_splits(B, hkv, T, q.device)
    part = torch.empty(B, H, S, D, dtype=torch.float32, device=q.device)
    lse = torch.empty(B, H, S, dtype=torch.float32, device=q.device)
    pos_t = pos if pos is not None else lse  # any pointer; unused without HAS_POS
    _split_kernel[(B, hkv, S)](
        q, k, v, pos_t, part, lse, scale, T, S,
        q.stride(0), q.stride(1), k.stride(0), k.stride(1), k.stride(2), v.stride(0), v.stride(1), v.stride(2),
        part.stride(0), part.stride(1), part.stride(2), lse.stride(0), lse.stride(1), lse.stride(2),
        G=G, D=D, BLOCK_N=BLOCK, GP=G_PAD, HAS_POS=pos is not None)
    out = torch.empty(B, H, 1, D, dtype=q.dtype, device=q.device)
    _reduce_kernel[(B, H)](
        part, lse, out, S, part.stride(0), part.stride(1), part.stride(2), lse.stride(0), lse.stride(1),
        lse.stride(2), out.stride(0), out.stride(1), D=D, SP=max(2, triton.next_power_of_2(S)))
    return out
