"""Decode against a KV cache sharded across ranks: local partial attention, then one all-gather of (out, lse).

Each rank keeps only its shard of every layer's keys and values (its zigzag positions after `ring_prefill`, then
its share of the generated tokens) in an ordinary `KVCache`. A decode step's new tokens are computed on every rank
(the weights are replicated), stored on one rank only (the least-filled, ties to the lowest rank: round-robin once
the shards are even), and each rank attends to its own shard; the partial results combine exactly by their LSE.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from engine.attention import attention
from engine.config import ModelConfig
from engine.kv.cache import KVCache
from engine.parallel.ring import ZigzagPlan


def combine(out: torch.Tensor, lse: torch.Tensor) -> torch.Tensor:
    """Merge partial attention over disjoint key sets: ``out`` (N, B, H, T, D), ``lse`` (N, B, H, T) -> (B, H, T, D)."""
    total = torch.logsumexp(lse, dim=0)  # (B, H, T)
    w = torch.exp(lse - total).nan_to_num(0.0)  # (N, B, H, T); a shard with no keys has lse -inf and weight 0
    return (out.float() * w.unsqueeze(-1)).sum(0)


class ShardedKVCache:
    """This rank's shard of the KV cache plus the lengths of every rank's shard (identical on all ranks).

    Pass it as the ``cache`` of a ring-transformed model (`engine.parallel.transform.apply_ring`) for decoding:
    ``model(tokens, cache.total, cache)`` then `commit` (or `engine.parallel.transform.ring_decode`). ``local`` is a
    plain `KVCache` of ``capacity`` positions for this rank.
    """

    def __init__(self, cfg: ModelConfig, capacity: int, group: dist.ProcessGroup | None = None, *, batch: int = 1,
                 dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> None:
        self.group = group
        self.world, self.rank = dist.get_world_size(group), dist.get_rank(group)
        self.local = KVCache(cfg.n_layers, cfg.n_kv_heads, cfg.head_dim, capacity, batch=batch, dtype=dtype,
                             device=device)
        self.lengths = [0] * self.world  # positions held by each rank
        self.total = 0  # global sequence length

    @property
    def owner(self) -> int:
        """The rank that stores the next block of new tokens."""
        return min(range(self.world), key=lambda r: (self.lengths[r], r))

    def store_prefill(self, layer: int, k: torch.Tensor, v: torch.Tensor, q: torch.Tensor | None = None) -> None:
        """Store this rank's prefill shard ``k, v`` (B, Hkv, n_local, D) of ``layer`` (call `commit_prefill` after).

        ``q`` (B, Hq, n_local, D), the same positions' queries, is for compressing caches; ignored here."""
        if self.total:
            raise ValueError("ring prefill needs an empty sharded cache: create a new ShardedKVCache per prompt")
        self.local.write(layer, 0, k, v)

    def commit_prefill(self, plan: ZigzagPlan) -> None:
        self.lengths = [plan.local_len(r) for r in range(self.world)]
        self.total = plan.total
        self.local.length = self.lengths[self.rank]

    def commit(self, n_new: int) -> None:
        """Account for a decode forward of ``n_new`` tokens (every layer has stored them on `owner`)."""
        owner = self.owner
        self.lengths[owner] += n_new
        self.total += n_new
        self.local.length = self.lengths[self.rank]

    def attend(self, layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               backend: str = "auto") -> torch.Tensor:
        """Attention of new tokens over the whole sharded cache plus themselves (causal among themselves).

        Parameters
        ----------
        q : (B, Hq, T, D) and k, v : (B, Hkv, T, D)
            Projections of the ``T`` new tokens at positions ``[total, total + T)``, identical on every rank.

        Returns
        -------
        (B, Hq, T, D) in q's dtype, identical on every rank.
        """
        out, lse = self.partial(layer, q, k, v, backend)
        D = q.shape[-1]
        packed = torch.cat([out, lse.unsqueeze(-1)], dim=-1)  # (B, H, T, D + 1)
        parts = [torch.empty_like(packed) for _ in range(self.world)]
        dist.all_gather(parts, packed, group=self.group)
        gathered = torch.stack(parts)  # (N, B, H, T, D + 1)
        return combine(gathered[..., :D], gathered[..., D]).to(q.dtype)

    def partial(self, layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                backend: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's part of `attend`: fp32 ``out`` (B, Hq, T, D) and ``lse`` (B, Hq, T) over its own keys
        (the new tokens stored and included on `owner` only); -inf lse where it holds none."""
        n = self.lengths[self.rank]
        B, H, T, D = q.shape
        out = torch.zeros(B, H, T, D, dtype=torch.float32, device=q.device)
        lse = torch.full((B, H, T), float("-inf"), dtype=torch.float32, device=q.device)
        if n:  # every new token sees the whole old shard
            o, s = attention(q, self.local.k[layer, :, :, :n], self.local.v[layer, :, :, :n], causal=False,
                             backend=backend)
            out, lse = o.float(), s
        if self.rank == self.owner:
            k_new, v_new = self.local.write(layer, n, k, v)
            o, s = attention(q, k_new[:, :, n:], v_new[:, :, n:], causal=True, q_offset=0, backend=backend)
            out, lse = combine(torch.stack([out, o.float()]), torch.stack([lse, s])), torch.logaddexp(lse, s)
        return out, lse
