"""The paged KV pool of the serving core and one step's view of it (`PagedBatch`), which the model attends through.

`PagedKV` allocates every layer's blocks once: ``k``, ``v`` of shape (n_layers, n_blocks, block_size, Hkv, D).
Block ids come from engine/block_manager.py. A step runs all its sequences' new tokens as one flat row of N tokens
(the model sees tokens (1, N)); `PagedBatch` says where each token goes (``slots``: block * block_size + row) and
what each sequence attends over (its block table and length). Its `attend` is the model's attention for such a row:
one write of the N tokens' keys and values, then attention per sequence, or one batched split-KV kernel over the
block tables when every sequence decodes a single token on a GPU (engine/paged_kernel.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from engine.attention import attend, decode_kernels


class PagedKV:
    """Keys and values of ``n_blocks`` blocks of ``block_size`` tokens for every layer, allocated once."""

    def __init__(self, n_layers: int, n_kv_heads: int, head_dim: int, n_blocks: int, block_size: int, *,
                 dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> None:
        shape = (n_layers, n_blocks, block_size, n_kv_heads, head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        self.n_blocks, self.block_size = n_blocks, block_size

    @staticmethod
    def block_bytes(n_layers: int, n_kv_heads: int, head_dim: int, block_size: int, dtype: torch.dtype) -> int:
        """Bytes one block takes over all layers (keys and values)."""
        return 2 * n_layers * block_size * n_kv_heads * head_dim * torch.empty((), dtype=dtype).element_size()

    def write(self, layer: int, slots: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
        """Store ``k``, ``v`` (N, Hkv, D) at flat ``slots`` (N,) of ``layer`` (no host sync: graph-safe)."""
        kl, vl = self.k[layer], self.v[layer]
        kl.view(-1, *kl.shape[2:]).index_copy_(0, slots, k.to(kl.dtype))
        vl.view(-1, *vl.shape[2:]).index_copy_(0, slots, v.to(vl.dtype))

    def gather(self, layer: int, blocks: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One sequence's first ``length`` keys and values, (1, Hkv, length, D) each, from its ``blocks``."""
        k, v = self.k[layer, blocks], self.v[layer, blocks]  # (nb, bs, Hkv, D)
        k = k.reshape(-1, *k.shape[2:])[:length].transpose(0, 1).unsqueeze(0)
        v = v.reshape(-1, *v.shape[2:])[:length].transpose(0, 1).unsqueeze(0)
        return k, v


@dataclass
class PagedBatch:
    """One step over the pool: N new tokens of B sequences, laid out sequence after sequence.

    ``positions``, ``slots`` (N,) int64; ``tables`` (B, max_blocks) int32; ``lens`` (B,) int32 each sequence's
    length after this step; ``last`` (B,) int64 the row of each sequence's last new token. ``query_lens`` and
    ``ctx_lens`` are the same on the host (None in a captured decode graph, where every query length is 1).
    ``max_len``: a bound on ``lens`` that fixes the decode kernel's split count.
    """

    pool: PagedKV
    positions: torch.Tensor
    slots: torch.Tensor
    tables: torch.Tensor
    lens: torch.Tensor
    last: torch.Tensor
    query_lens: list[int] | None
    ctx_lens: list[int] | None
    max_len: int

    @property
    def decode_only(self) -> bool:
        return self.query_lens is None or all(t == 1 for t in self.query_lens)

    def attend(self, layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, backend: str) -> torch.Tensor:
        """Write ``k``, ``v`` (1, Hkv, N, D) into the pool and return attention of ``q`` (1, H, N, D), each
        sequence's queries causal over its own keys: (1, H, N, D)."""
        self.pool.write(layer, self.slots, k[0].transpose(0, 1), v[0].transpose(0, 1))
        kernels = decode_kernels(q) if backend == "auto" and self.decode_only else None
        if kernels is not None and kernels.supports(q.shape[1], k.shape[1], q.shape[-1]):
            from engine.paged_kernel import paged_decode_attention

            qb = q[0].transpose(0, 1).unsqueeze(2)  # (B, H, 1, D), one token per sequence
            out = paged_decode_attention(qb, self.pool.k[layer], self.pool.v[layer], self.tables, self.lens,
                                         1.0 / math.sqrt(q.shape[-1]), self.max_len)
            return out.squeeze(2).transpose(0, 1).unsqueeze(0)  # (1, H, N, D)
        assert self.query_lens is not None and self.ctx_lens is not None, "a captured batch has the kernel path"
        outs, a, bs = [], 0, self.pool.block_size
        for i, (t, n) in enumerate(zip(self.query_lens, self.ctx_lens, strict=True)):
            kk, vv = self.pool.gather(layer, self.tables[i, : -(-n // bs)], n)
            outs.append(attend(q[:, :, a:a + t], kk, vv, n - t, backend))  # (1, H, t, D)
            a += t
        return torch.cat(outs, dim=2)
