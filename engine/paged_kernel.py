"""Batched split-KV decode attention over a paged KV pool (Triton): one query token per sequence, any lengths.

The split kernel of engine/decode_kernel.py, reading keys through a block table: for sequence ``b`` key ``j`` lives
in pool block ``tables[b, j // page]`` at row ``j % page``. Each (sequence, KV head) deals its 64-key steps
round-robin to ``S`` programs; keys at or after ``lens[b]`` are never read, so ``S``, the table width and the batch
stay static (CUDA graphs) while the work follows each sequence's real length. The partials are merged by the
reduce kernel of engine/decode_kernel.py.

Shapes: q (B, H, 1, D) unit stride on D; pool k, v (n_blocks, page, Hkv, D); tables (B, max_blocks) int32; lens
(B,) int32, each >= 1. Output (B, H, 1, D) in q's dtype. Runs under ``TRITON_INTERPRET=1`` on the CPU (tests).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from engine.decode_kernel import BLOCK, G_PAD, _reduce_kernel, _store_split, n_splits, supports


@triton.jit
def _paged_split_kernel(Q, K, V, TABLES, LENS, OUT, LSE, scale, S,
                        sqb, sqh, skn, skt, skh, svn, svt, svh, stb, sob, soh, sos, slb, slh, sls,
                        G: tl.constexpr, D: tl.constexpr, PAGE: tl.constexpr, BLOCK_N: tl.constexpr,
                        GP: tl.constexpr):
    b = tl.program_id(0)
    h = tl.program_id(1)
    s = tl.program_id(2)
    rows = tl.arange(0, GP)
    dims = tl.arange(0, D)
    row_ok = rows < G
    q = tl.load(Q + b * sqb + (h * G + rows)[:, None] * sqh + dims[None, :], mask=row_ok[:, None], other=0.0)
    end = tl.load(LENS + b).to(tl.int32)
    m = tl.full([GP], float("-inf"), tl.float32)
    l_sum = tl.zeros([GP], tl.float32)
    acc = tl.zeros([GP, D], tl.float32)
    for blk in range(s, tl.cdiv(end, BLOCK_N), S):
        cols = blk * BLOCK_N + tl.arange(0, BLOCK_N)
        ok = cols < end
        page = tl.load(TABLES + b * stb + cols // PAGE, mask=ok, other=0).to(tl.int64)
        row = (cols % PAGE).to(tl.int64)
        k = tl.load(K + page[:, None] * skn + row[:, None] * skt + h * skh + dims[None, :], mask=ok[:, None], other=0)
        sc = tl.dot(q, tl.trans(k)).to(tl.float32) * scale  # (GP, BLOCK_N)
        sc = tl.where(ok[None, :], sc, float("-inf"))
        m_new = tl.maximum(m, tl.max(sc, 1))
        p = tl.exp(sc - m_new[:, None])
        alpha = tl.exp(m - m_new)
        v = tl.load(V + page[:, None] * svn + row[:, None] * svt + h * svh + dims[None, :], mask=ok[:, None], other=0)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v).to(tl.float32)
        l_sum = l_sum * alpha + tl.sum(p, 1)
        m = m_new
    _store_split(acc, m, l_sum, OUT, LSE, b * sob + (h * G + rows)[:, None] * soh + s * sos + dims[None, :],
                 b * slb + (h * G + rows) * slh + s * sls, row_ok)


def paged_decode_attention(q: torch.Tensor, k_pool: torch.Tensor, v_pool: torch.Tensor, tables: torch.Tensor,
                           lens: torch.Tensor, scale: float, max_len: int | None = None) -> torch.Tensor:
    """Attention output (B, H, 1, D) of each sequence's one query over its first ``lens[b]`` pooled keys.

    ``max_len``: an upper bound on ``lens`` (default: the table's width in keys); it sets the number of splits, so
    pass the same value for every replay of a captured graph.
    """
    B, H, tq, D = q.shape
    page, hkv = k_pool.shape[1], k_pool.shape[2]
    if tq != 1 or q.stride(-1) != 1 or k_pool.stride(-1) != 1 or v_pool.stride(-1) != 1 or not supports(H, hkv, D):
        raise ValueError(f"paged_decode_attention takes one query token per sequence with unit-stride head dims, a "
                         f"power-of-two head dim >= 16 and at most {G_PAD} query heads per KV head; got q "
                         f"{tuple(q.shape)}, pool {tuple(k_pool.shape)}")
    G = H // hkv
    S = n_splits(B, hkv, max_len or tables.shape[1] * page, q.device, BLOCK)
    part = torch.empty(B, H, S, D, dtype=torch.float32, device=q.device)
    lse = torch.empty(B, H, S, dtype=torch.float32, device=q.device)
    _paged_split_kernel[(B, hkv, S)](
        q, k_pool, v_pool, tables, lens, part, lse, scale, S,
        q.stride(0), q.stride(1), k_pool.stride(0), k_pool.stride(1), k_pool.stride(2), v_pool.stride(0),
        v_pool.stride(1), v_pool.stride(2), tables.stride(0), part.stride(0), part.stride(1), part.stride(2),
        lse.stride(0), lse.stride(1), lse.stride(2), G=G, D=D, PAGE=page, BLOCK_N=BLOCK, GP=G_PAD)
    out = torch.empty(B, H, 1, D, dtype=q.dtype, device=q.device)
    _reduce_kernel[(B, H)](
        part, lse, out, q, q, q, S, scale, part.stride(0), part.stride(1), part.stride(2), lse.stride(0),
        lse.stride(1), lse.stride(2), out.stride(0), out.stride(1), q.stride(0), q.stride(1), q.stride(0),
        q.stride(1), G=G, D=D, SP=max(2, triton.next_power_of_2(S)), CUR=False)
    return out
