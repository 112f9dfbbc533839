"""Split-KV decode attention in Triton ("flash-decoding"): one query token against a long cache, two kernels.

Decode reads the whole KV cache once per token, and with one query per sequence the GPU has only B * Hkv (say 8)
units of work. The split kernel deals each (sequence, KV head) cache's blocks of 64 keys round-robin to ``S``
programs read in parallel (round-robin, so all S stay busy however short the filled part of a long cache); each
program holds the GQA group's queries (G of them, padded to 16 rows for ``tl.dot``), streams its slice of keys
and values once with an online softmax, and writes a partial output and its log-sum-exp. The reduce kernel merges
the S partials exactly. Keys after the device-side position ``pos`` are never read (the loop stops there), so
the shapes stay static for CUDA graphs while the work follows the real length.

`rope_write` is decode's other fused step: it rotates the new token's queries and keys (HF's rotate-half) and writes
the keys and values into the cache at ``pos``, one kernel for what is otherwise about seven. `rope_write_int8` and
the ``k_scale``/``v_scale`` arguments of `decode_attention` do the same for int8 caches with one fp16 scale per token
(engine/kv/quant.py "int8"): the token is quantized as it is written, codes are scaled in registers as they are
read, and the token itself is merged in full precision (as the eager store attends to it).

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
INT8_BLOCK = 128  # keys per step over int8 codes: same bytes per step as BLOCK at bf16 (11% faster than 64 at 128K)
G_PAD = 16  # tl.dot needs at least 16 rows


@triton.jit
def _store_split(acc, m, l_sum, OUT, LSE, out_offs, lse_offs, row_ok):
    """One split's normalised partial output and its log-sum-exp (``-inf`` for a split that saw no key)."""
    has = l_sum > 0
    out = acc / tl.where(has, l_sum, 1.0)[:, None]
    lse = tl.where(has, m + tl.log(tl.where(has, l_sum, 1.0)), float("-inf"))
    tl.store(OUT + out_offs, out, mask=row_ok[:, None])
    tl.store(LSE + lse_offs, lse, mask=row_ok)


@triton.jit
def _split_kernel(Q, K, V, KS, VS, POS, OUT, LSE, scale, T, S,
                  sqb, sqh, skb, skh, skt, svb, svh, svt, sksb, sksh, skst, svsb, svsh, svst,
                  sob, soh, sos, slb, slh, sls,
                  G: tl.constexpr, D: tl.constexpr, BLOCK_N: tl.constexpr, GP: tl.constexpr,
                  HAS_POS: tl.constexpr, QUANT: tl.constexpr):
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
    if QUANT:  # int8 codes with one scale per token; this step's own token is merged in full precision later
        end = last
    m = tl.full([GP], float("-inf"), tl.float32)
    l_sum = tl.zeros([GP], tl.float32)
    acc = tl.zeros([GP, D], tl.float32)
    kb = K + b * skb + h * skh
    vb = V + b * svb + h * svh
    for blk in range(s, tl.cdiv(end, BLOCK_N), S):  # blocks dealt round-robin: every slice busy at any pos
        cols = blk * BLOCK_N + tl.arange(0, BLOCK_N)
        ok = cols < end
        k = tl.load(kb + cols[:, None] * skt + dims[None, :], mask=ok[:, None], other=0)  # (BLOCK_N, D)
        if QUANT:
            k_scale = tl.load(KS + b * sksb + h * sksh + cols * skst, mask=ok, other=0.0).to(tl.float32)
            sc = tl.dot(q, tl.trans(k.to(q.dtype))).to(tl.float32) * (k_scale * scale)[None, :]
        else:
            sc = tl.dot(q, tl.trans(k)).to(tl.float32) * scale  # (GP, BLOCK_N)
        sc = tl.where(ok[None, :], sc, float("-inf"))
        m_new = tl.maximum(m, tl.max(sc, 1))
        p = tl.exp(sc - m_new[:, None])
        alpha = tl.exp(m - m_new)
        v = tl.load(vb + cols[:, None] * svt + dims[None, :], mask=ok[:, None], other=0)
        if QUANT:  # p @ (codes * scale) = (p * scale) @ codes
            v_scale = tl.load(VS + b * svsb + h * svsh + cols * svst, mask=ok, other=0.0).to(tl.float32)
            acc = acc * alpha[:, None] + tl.dot((p * v_scale[None, :]).to(q.dtype), v.to(q.dtype)).to(tl.float32)
        else:
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v).to(tl.float32)
        l_sum = l_sum * alpha + tl.sum(p, 1)
        m = m_new
    _store_split(acc, m, l_sum, OUT, LSE, b * sob + (h * G + rows)[:, None] * soh + s * sos + dims[None, :],
                 b * slb + (h * G + rows) * slh + s * sls, row_ok)


@triton.jit
def _reduce_kernel(PART, LSE, OUT, Q, KC, VC, S, scale, spb, sph, sps, slb, slh, sls, sob, soh, sqb, sqh, scb, sch,
                   G: tl.constexpr, D: tl.constexpr, SP: tl.constexpr, CUR: tl.constexpr):
    b = tl.program_id(0)
    h = tl.program_id(1)
    splits = tl.arange(0, SP)
    ok = splits < S
    lse = tl.load(LSE + b * slb + h * slh + splits * sls, mask=ok, other=float("-inf"))
    dims = tl.arange(0, D)
    part = tl.load(PART + b * spb + h * sph + splits[:, None] * sps + dims[None, :], mask=ok[:, None], other=0.0)
    top = tl.max(lse, 0)
    if CUR:  # this step's token, in full precision: one more partial with lse = its score, output = its value
        q = tl.load(Q + b * sqb + h * sqh + dims).to(tl.float32)
        k_cur = tl.load(KC + b * scb + (h // G) * sch + dims).to(tl.float32)
        s_cur = tl.sum(q * k_cur, 0) * scale
        top = tl.maximum(top, s_cur)
        w = tl.exp(lse - top)
        w_cur = tl.exp(s_cur - top)
        v_cur = tl.load(VC + b * scb + (h // G) * sch + dims).to(tl.float32)
        out = (tl.sum(part * w[:, None], 0) + w_cur * v_cur) / (tl.sum(w, 0) + w_cur)
    else:
        w = tl.exp(lse - top)
        out = tl.sum(part * w[:, None], 0) / tl.sum(w, 0)
    tl.store(OUT + b * sob + h * soh + dims, out.to(OUT.dtype.element_ty))


@triton.jit
def _rope_write_kernel(QKV, COS, SIN, POS, QO, KC, VC, KS, VS, KCUR, VCUR, sxb, sqb, sqh, skb, skh, skt,
                       svb, svh, svt, sksb, sksh, skst, svsb, svsh, svst, scb, sch,
                       H: tl.constexpr, HKV: tl.constexpr, D: tl.constexpr, QUANT: tl.constexpr):
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
    elif QUANT:  # int8 with one fp16 absmax scale per token and head (engine/kv/quant.py); x kept for this step
        is_k = j < H + HKV
        hk = tl.where(is_k, j - H, j - H - HKV)
        x = x.to(QO.dtype.element_ty).to(tl.float32)  # the compute dtype's value, as the eager store sees it
        sc = tl.maximum(tl.max(tl.abs(x), 0) / 127.0, 2.0**-14).to(tl.float16).to(tl.float32)
        y = x / sc
        r = tl.floor(y + 0.5)  # round half to even, as torch.round
        r = tl.where((r - y == 0.5) & (r - 2.0 * tl.floor(r * 0.5) != 0.0), r - 1.0, r)
        code = tl.minimum(tl.maximum(r, -127.0), 127.0).to(tl.int8)
        if is_k:
            tl.store(KC + b * skb + hk * skh + pos * skt + dims, code)
            tl.store(KS + b * sksb + hk * sksh + pos * skst, sc.to(tl.float16))
            tl.store(KCUR + b * scb + hk * sch + dims, x.to(KCUR.dtype.element_ty))
        else:
            tl.store(VC + b * svb + hk * svh + pos * svt + dims, code)
            tl.store(VS + b * svsb + hk * svsh + pos * svst, sc.to(tl.float16))
            tl.store(VCUR + b * scb + hk * sch + dims, x.to(VCUR.dtype.element_ty))
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
    return _rope_write(qkv, cos, sin, pos, k_cache, v_cache, n_heads, None, None)[0]


def rope_write_int8(qkv: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, pos: torch.Tensor,
                    k_codes: torch.Tensor, v_codes: torch.Tensor, k_scale: torch.Tensor, v_scale: torch.Tensor,
                    n_heads: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """As `rope_write` into int8 caches with one fp16 absmax scale per token and head (engine/kv/quant.py "int8").

    ``k_codes``, ``v_codes`` (B, Hkv, T, D) int8; ``k_scale``, ``v_scale`` (B, Hkv, T, 1) fp16. Returns the
    queries and this token's keys and values in full precision, (B, Hkv, 1, D) each, for `decode_attention`'s
    ``k_cur``, ``v_cur`` (the eager store attends to the newest token unquantized, and so does this).
    """
    q, k_cur, v_cur = _rope_write(qkv, cos, sin, pos, k_codes, v_codes, n_heads, k_scale, v_scale)
    assert k_cur is not None and v_cur is not None
    return q, k_cur, v_cur


def _rope_write(qkv: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, pos: torch.Tensor, k_cache: torch.Tensor,
                v_cache: torch.Tensor, n_heads: int, k_scale: torch.Tensor | None, v_scale: torch.Tensor | None,
                ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    B, tq, width = qkv.shape
    hkv, D = k_cache.shape[1], k_cache.shape[3]
    if tq != 1 or width != (n_heads + 2 * hkv) * D or qkv.stride(-1) != 1 or k_cache.stride(-1) != 1:
        raise ValueError("rope_write takes one token's fused q|k|v row and unit-stride caches")
    q = torch.empty(B, n_heads, 1, D, dtype=qkv.dtype, device=qkv.device)
    quant = k_scale is not None and v_scale is not None
    cur = torch.empty(2, B, hkv, 1, D, dtype=qkv.dtype, device=qkv.device) if quant else None
    ks, vs = (k_scale, v_scale) if k_scale is not None and v_scale is not None else (q, q)  # unused pointers
    kc, vc = (cur[0], cur[1]) if cur is not None else (q, q)
    _rope_write_kernel[(B, n_heads + 2 * hkv)](
        qkv, cos.contiguous(), sin.contiguous(), pos, q, k_cache, v_cache, ks, vs, kc, vc, qkv.stride(0),
        q.stride(0), q.stride(1), k_cache.stride(0), k_cache.stride(1), k_cache.stride(2), v_cache.stride(0),
        v_cache.stride(1), v_cache.stride(2), ks.stride(0), ks.stride(1), ks.stride(2), vs.stride(0),
        vs.stride(1), vs.stride(2), kc.stride(0), kc.stride(1), H=n_heads, HKV=hkv, D=D, QUANT=quant)
    return (q, cur[0], cur[1]) if cur is not None else (q, None, None)


@functools.cache
def _n_sm(device: torch.device) -> int:
    if device.type != "cuda":
        return 8
    return torch.cuda.get_device_properties(device).multi_processor_count


def n_splits(batch: int, n_kv: int, length: int, device: torch.device, block: int = BLOCK) -> int:
    """Slices per (sequence, KV head): about two programs per SM, never a slice shorter than one block."""
    want = max(1, -(-2 * _n_sm(device) // (batch * n_kv)))
    return max(1, min(want, -(-length // block)))


def supports(n_heads: int, n_kv_heads: int, head_dim: int) -> bool:
    """Whether these kernels take this attention shape (a power-of-two head dim >= 16, at most G_PAD per group)."""
    return head_dim >= 16 and not head_dim & (head_dim - 1) and n_heads % n_kv_heads == 0 \
        and n_heads // n_kv_heads <= G_PAD


def decode_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float,
                     pos: torch.Tensor | None = None, k_scale: torch.Tensor | None = None,
                     v_scale: torch.Tensor | None = None, k_cur: torch.Tensor | None = None,
                     v_cur: torch.Tensor | None = None, block: int | None = None) -> torch.Tensor:
    """Attention output (B, H, 1, D) of one query per head against ``k, v`` (B, Hkv, T, D); see the module doc.

    Int8 caches: ``k, v`` hold codes, ``k_scale``, ``v_scale`` (B, Hkv, T, 1) their per-token scales, and
    ``k_cur``, ``v_cur`` (B, Hkv, 1, D) the token at ``pos`` in full precision (`rope_write_int8`); the codes are
    read before ``pos`` only. ``block``: keys per inner step (default `BLOCK`, `INT8_BLOCK` for int8).
    """
    B, H, tq, D = q.shape
    hkv, T = k.shape[1], k.shape[2]
    if tq != 1 or k.stride(-1) != 1 or v.stride(-1) != 1 or q.stride(-1) != 1 or not supports(H, hkv, D):
        raise ValueError(f"decode_attention takes one query token with unit-stride head dims, a power-of-two head "
                         f"dim >= 16 and at most {G_PAD} query heads per KV head; got q {tuple(q.shape)}, "
                         f"k {tuple(k.shape)}")
    quant = k_scale is not None
    if quant and (v_scale is None or k_cur is None or v_cur is None or pos is None):
        raise ValueError("int8 decode attention needs v_scale, k_cur, v_cur and pos with k_scale")
    G = H // hkv
    bn = block or (INT8_BLOCK if quant else BLOCK)
    S = n_splits(B, hkv, T, q.device, bn)
    part = torch.empty(B, H, S, D, dtype=torch.float32, device=q.device)
    lse = torch.empty(B, H, S, dtype=torch.float32, device=q.device)
    pos_t = pos if pos is not None else lse  # any pointer; unused without HAS_POS
    ks = k_scale if k_scale is not None else lse[..., None]
    vs = v_scale if v_scale is not None else lse[..., None]
    _split_kernel[(B, hkv, S)](
        q, k, v, ks, vs, pos_t, part, lse, scale, T, S,
        q.stride(0), q.stride(1), k.stride(0), k.stride(1), k.stride(2), v.stride(0), v.stride(1), v.stride(2),
        ks.stride(0), ks.stride(1), ks.stride(2), vs.stride(0), vs.stride(1), vs.stride(2),
        part.stride(0), part.stride(1), part.stride(2), lse.stride(0), lse.stride(1), lse.stride(2),
        G=G, D=D, BLOCK_N=bn, GP=G_PAD, HAS_POS=pos is not None, QUANT=quant)
    out = torch.empty(B, H, 1, D, dtype=q.dtype, device=q.device)
    kc = k_cur if k_cur is not None else q
    vc = v_cur if v_cur is not None else q
    _reduce_kernel[(B, H)](
        part, lse, out, q, kc, vc, S, scale, part.stride(0), part.stride(1), part.stride(2), lse.stride(0),
        lse.stride(1), lse.stride(2), out.stride(0), out.stride(1), q.stride(0), q.stride(1), kc.stride(0),
        kc.stride(1), G=G, D=D, SP=max(2, triton.next_power_of_2(S)), CUR=quant)
    return out
