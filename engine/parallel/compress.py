"""KV compression after ring prefill: each rank keeps its share of a global per-(layer, KV head) budget.

`CompressedShardedKVCache` is the ``cache`` of `ring_prefill` / `ring_decode` for a request with a `KVSpec`. The
prefill stores each rank's zigzag shard and the queries of the last ``window`` prompt positions; `commit_prefill`
then, layer by layer, gathers the window queries (one all-reduce for all layers), computes the single-device score
vector on every rank from the ranks' summed votes (`engine.parallel.scores`), runs the policy's own `select` on it,
and keeps the selected tokens this rank holds. Per (layer, KV head) the union over ranks is the single-device kept
set (a global budget, not a per-rank one), and keys keep the rotary phase of their original global position.
Decode tokens then go to the inherited plain shard of the least-filled rank, and attention merges both parts
exactly by their LSE.

Exactness: position-only scores (StreamingLLM) are bitwise the single-device ones; SnapKV-family scores differ
from them only by fp32 rounding of the softmax normaliser (a merged LSE instead of one softmax), so the kept set can
differ only where two candidates' scores tie to within ~1e-7 relative. Exact ties (max-pooling makes many) go
through the same ``topk`` on an identical vector on every rank, so no token is kept twice or lost.

Supported: policies applied once after the prompt (``when="end"``) that score by votes (`Policy.splits_votes`:
StreamingLLM, SnapKV, PyramidKV, ChunkKV, AdaKV over those), stored in the model's dtype. Not supported (ValueError
before any work): H2O's accumulated attention, decode-time eviction (``when="always"``), per-chunk compression
(``when="chunks"``, the ring prefill is one pass) and quantized or lower-precision KV storage.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.distributed as dist

from engine.attention import attention
from engine.config import ModelConfig
from engine.kv.compressed import KVSpec
from engine.kv.policy import Policy
from engine.kv.quant import PLAIN_DTYPES
from engine.parallel.decode import ShardedKVCache, combine
from engine.parallel.ring import ZigzagPlan
from engine.parallel.scores import check_splits_votes, global_scores, shard_inputs


def ring_spec(kv_policy: KVSpec | Policy, dtype: torch.dtype) -> KVSpec:
    """The `KVSpec` of a ring request (`KVSpec.of`: a bare `Policy` is wrapped); ValueError for what the ring cannot
    do yet."""
    spec = KVSpec.of(kv_policy)
    if PLAIN_DTYPES.get(spec.dtype, "quant") not in (None, dtype):
        raise ValueError(
            f"KV storage {spec.dtype!r} is not supported with world_size > 1 yet: use "
            "dtype='model', or serve with --gpus 1"
        )
    p = spec.policy
    if p is not None:
        if p.when != "end":
            raise ValueError(
                f"{p.name} with when={p.when!r} is not supported with world_size > 1: the ring "
                "compresses once after the whole prompt (when='end'; decode-time eviction such as "
                "H2O's default is single-device only)"
            )
        if p.needs_attn_sum:
            raise ValueError(
                f"{p.name} scores with attention accumulated over every query, which is not "
                "supported with world_size > 1 yet: use StreamingLLM, SnapKV, PyramidKV, ChunkKV or AdaKV"
            )
        check_splits_votes(p)
    return spec


def masked_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, valid: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-causal attention over the keys marked ``valid``.

    Parameters
    ----------
    q : (B, Hq, T, D)
    k, v : (B, Hkv, m, D)
    valid : (B, Hkv, m) bool
        Real tokens; the rest is padding (the heads of a layer keep different numbers of tokens on a rank).

    Returns
    -------
    out : (B, Hq, T, D) fp32, and lse : (B, Hq, T) fp32 (-inf for a head with no valid key, whose out is 0).
    """
    B, Hq, T, D = q.shape
    Hkv = k.shape[1]
    qg = q.float().view(B, Hkv, Hq // Hkv, T, D)
    logits = qg @ k.float()[:, :, None].transpose(-2, -1) / math.sqrt(D)  # (B, Hkv, group, T, m)
    logits = logits.masked_fill(~valid[:, :, None, None, :], float("-inf"))
    lse = logits.logsumexp(dim=-1)  # (B, Hkv, group, T)
    p = torch.exp(logits - lse[..., None]).nan_to_num(0.0)
    out = p @ v.float()[:, :, None]  # (B, Hkv, group, T, D)
    return out.view(B, Hq, T, D), lse.view(B, Hq, T)


class CompressedShardedKVCache(ShardedKVCache):
    """This rank's compressed prompt tokens plus its plain shard of decode tokens (see the module docstring).

    ``kept`` (world, n_layers, B, Hkv) counts the prompt tokens every rank keeps (known on every rank, since the
    selection is global); `owner` gives the next decode token to the rank storing the fewest (layer, head) tokens.
    """

    def __init__(
        self,
        cfg: ModelConfig,
        spec: KVSpec,
        prompt_len: int,
        max_new: int,
        group: dist.ProcessGroup | None = None,
        *,
        batch: int = 1,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ) -> None:
        self.spec = ring_spec(spec, dtype)
        super().__init__(cfg, max(max_new, 0) + 1, group, batch=batch, dtype=dtype, device=device)
        self.plan = ZigzagPlan(prompt_len, self.world, self.rank)
        self.n_layers, self.head_dim = cfg.n_layers, cfg.head_dim
        shard = (cfg.n_layers, batch, cfg.n_kv_heads, self.plan.local_len(), cfg.head_dim)
        self.prefill_k = torch.zeros(shard, dtype=dtype, device=device)
        self.prefill_v = torch.zeros(shard, dtype=dtype, device=device)
        p = self.spec.policy
        w = 0 if p is None else min(max(p.window, 1), prompt_len)
        self.window = torch.zeros(cfg.n_layers, batch, cfg.n_heads, w, cfg.head_dim, device=device)
        self.prompt: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]] = []
        self.kept = torch.zeros(self.world, cfg.n_layers, batch, cfg.n_kv_heads, dtype=torch.long)

    @property
    def owner(self) -> int:
        units = self.kept.flatten(1).sum(1).tolist()  # (layer, head) prompt tokens per rank
        per_token = self.kept[0].numel()
        return min(range(self.world), key=lambda r: (units[r] + self.lengths[r] * per_token, r))

    def store_prefill(self, layer: int, k: torch.Tensor, v: torch.Tensor, q: torch.Tensor | None = None) -> None:
        """Keep this rank's shard ``k, v`` (B, Hkv, n_local, D) and its queries ``q`` (B, Hq, n_local, D) that fall
        in the observation window (the last ``window`` prompt positions)."""
        if self.total:
            raise ValueError("ring prefill needs an empty sharded cache: create a new cache per prompt")
        self.prefill_k[layer], self.prefill_v[layer] = k, v
        w = self.window.shape[3]
        if w:
            assert q is not None, "RingPrefill passes the queries"
            pos = self.plan.positions().to(q.device)
            mine = pos >= self.plan.total - w
            self.window[layer][:, :, pos[mine] - (self.plan.total - w)] = q[:, :, mine].float()

    def commit_prefill(self, plan: ZigzagPlan) -> None:
        """Compress every layer with the global budget (collectives: every rank calls it after the prefill)."""
        if plan.total != self.plan.total:
            raise ValueError(f"the cache was made for a {self.plan.total}-token prompt, got {plan.total}")
        self.total, self.lengths, self.local.length = plan.total, [0] * self.world, 0
        if self.window.shape[3]:
            dist.all_reduce(self.window, group=self.group)  # each window position comes from one rank: exact
        for layer in range(self.n_layers):
            self._keep(layer, self._select(layer))
        self.prefill_k = self.prefill_v = torch.empty(0)  # the compacted copies replace the shard

    def _select(self, layer: int) -> torch.Tensor:
        """(B, Hkv, T) bool: the tokens the policy keeps over the whole prompt, identical on every rank."""
        p, T = self.spec.policy, self.plan.total
        B, Hkv = self.prefill_k.shape[1:3]
        keep = torch.ones(B, Hkv, T, dtype=torch.bool, device=self.prefill_k.device)
        if p is None or p.layer_budget(T, layer, self.n_layers) >= T:
            return keep
        inp = shard_inputs(self.prefill_k[layer], self.prefill_v[layer], self.plan.positions(), self.window[layer], T,
                           layer, self.n_layers, self.group)
        idx = p.select(global_scores(p, inp, self.group), T, layer, self.n_layers)  # (B, Hkv, k) global positions
        return keep if idx is None else torch.zeros_like(keep).scatter_(-1, idx, True)

    def _keep(self, layer: int, keep: torch.Tensor) -> None:
        """Compact this rank's selected tokens of ``layer`` (padded to the head keeping most, positions ascending)."""
        for r in range(self.world):
            self.kept[r, layer] = keep[..., self.plan.positions(r).to(keep.device)].sum(-1).cpu()
        pos = self.plan.positions().to(keep.device)
        mine = keep[..., pos]  # (B, Hkv, n_local)
        m = int(self.kept[self.rank, layer].max())
        order = torch.sort((~mine).to(torch.uint8), dim=-1, stable=True).indices[..., :m]  # kept first, ascending
        valid = mine.gather(-1, order)  # (B, Hkv, m)
        gidx = order[..., None].expand(-1, -1, -1, self.head_dim)
        k, v = self.prefill_k[layer].gather(2, gidx), self.prefill_v[layer].gather(2, gidx)
        self.prompt.append((k, v, None if bool(valid.all()) else valid, pos[order]))

    def partial(
        self, layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, backend: str = "auto"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode tokens (`ShardedKVCache.partial`) merged with this rank's kept prompt tokens of ``layer``."""
        out, lse = super().partial(layer, q, k, v, backend)
        pk, pv, valid, _ = self.prompt[layer]
        if pk.shape[2]:
            if valid is None:
                o, s = attention(q, pk, pv, causal=False, backend=backend)
            else:
                o, s = masked_attention(q, pk, pv, valid)
            out, lse = combine(torch.stack([out, o.float()]), torch.stack([lse, s])), torch.logaddexp(lse, s)
        return out, lse

    def kept_positions(self) -> list[list[list[list[int]]]]:
        """This rank's kept prompt positions, ``[layer][batch][kv_head] -> sorted list``."""
        res = []
        for layer, (_, _, _, pos) in enumerate(self.prompt):
            n = self.kept[self.rank, layer]
            res.append([[pos[b, h, : int(n[b, h])].tolist() for h in range(pos.shape[1])] for b in range(pos.shape[0])])
        return res

    def stats(self) -> dict[str, Any]:
        """Bytes and tokens of the whole request's KV over all ranks (no collective: the counts are global)."""
        elem = self.local.k.element_size()
        per_token = self.kept[0].numel()  # (layer, batch, head) slots per decode token
        units = [int(self.kept[r].sum()) + self.lengths[r] * per_token for r in range(self.world)]
        per_unit = 2 * self.head_dim * elem  # one token's key and value in one head
        tokens = self.kept.sum(0).float().flatten(1).mean(1) + sum(self.lengths)  # (n_layers,) per head, mean
        p = self.spec.policy
        return {
            "kv_dtype": self.spec.dtype,
            "policy": p.name if p else "full",
            "kv_bytes": per_unit * sum(units),
            "kv_bytes_per_rank": [per_unit * u for u in units],
            "kv_tokens_mean": float(tokens.mean()),
            "kv_tokens_min": float(tokens.min()),
            "kv_tokens_max": float(tokens.max()),
            "evicted_mean": float(self.plan.total - self.kept.sum(0).float().flatten(1).mean(1).mean()),
        }
