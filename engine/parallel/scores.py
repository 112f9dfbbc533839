"""Global KV-compression scores from a zigzag-sharded prompt: every rank gets the single-device score vector.

After `ring_prefill` each rank holds the keys of its own positions, but a token's score may depend on the whole
sequence: SnapKV normalises every window query over all keys and max-pools over neighbouring positions (which may
live on another rank); StreamingLLM scores by global position. So each rank computes its own tokens' share, and
one all-reduce of a zero-filled (B, Hkv, T) vector, in which every position is written by exactly one rank (the
sum is exact), gives all ranks the same global vector. The policy's own `select` then picks the kept tokens, the
same on every rank, so the budget is global and the union of the ranks' kept tokens is the single-device set.

`RING_SCORERS` maps a policy's `score` method to its sharded equivalent (subclasses that keep the method, such as
PyramidKV, are covered); a policy whose `score` is not there is refused with the list of supported ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from engine.kv.adakv import AdaKV
from engine.kv.chunkkv import ChunkKV
from engine.kv.policy import Policy, ScoreInputs
from engine.kv.snapkv import SnapKV
from engine.kv.streaming import StreamingLLM


@dataclass
class ShardScoreInputs:
    """What a ring scorer sees for one layer on one rank.

    ``keys``: (B, Hkv, n_local, D) this rank's prompt keys (rotary applied), at global ``positions`` (n_local,),
    ascending. ``window``: (B, Hq, w, D) fp32 queries of the last ``w`` prompt positions, identical on every rank.
    """

    keys: torch.Tensor
    positions: torch.Tensor
    window: torch.Tensor
    total: int
    layer: int
    n_layers: int
    group: dist.ProcessGroup | None = None


def scatter_sum(
    local: torch.Tensor, positions: torch.Tensor, total: int, group: dist.ProcessGroup | None
) -> torch.Tensor:
    """Every rank's (B, H, n_local) values at their global positions -> (B, H, total) fp32 on every rank."""
    full = torch.zeros(*local.shape[:2], total, dtype=torch.float32, device=local.device)
    full[..., positions.to(local.device)] = local.float()
    dist.all_reduce(full, group=group)  # each position is non-zero on one rank only: the sum is exact
    return full


def window_votes(inp: ShardScoreInputs) -> torch.Tensor:
    """`engine.kv.policy.observation_attention` averaged over the GQA group and the window, (B, Hkv, T).

    Each rank scores the window queries against its own keys; the softmax normaliser is the log-sum-exp of the
    ranks' partial log-sum-exps (one all-gather of (B, Hkv, group, w)).
    """
    q, keys = inp.window, inp.keys
    B, Hq, w, D = q.shape
    Hkv = keys.shape[1]
    qg = q.float().view(B, Hkv, Hq // Hkv, w, D)
    logits = qg @ keys.float()[:, :, None].transpose(-2, -1) / math.sqrt(D)  # (B, Hkv, group, w, n_local)
    qpos = torch.arange(inp.total - w, inp.total, device=q.device)[:, None]
    future = inp.positions.to(q.device)[None, :] > qpos  # (w, n_local)
    logits = logits.masked_fill(future, float("-inf"))
    lse = logits.logsumexp(dim=-1)  # (B, Hkv, group, w) over this rank's keys
    parts = [torch.empty_like(lse) for _ in range(dist.get_world_size(inp.group))]
    dist.all_gather(parts, lse, group=inp.group)
    total_lse = torch.stack(parts).logsumexp(dim=0)  # finite: every query sees at least its own key
    attn = torch.exp(logits - total_lse[..., None])  # (B, Hkv, group, w, n_local); masked keys get 0
    return scatter_sum(attn.mean(dim=(2, 3)), inp.positions, inp.total, inp.group)


def _positional(policy: Policy, inp: ShardScoreInputs) -> torch.Tensor:
    """Scores that depend only on the sequence length (StreamingLLM): the policy's own `score` on shape only."""
    B, Hkv = inp.keys.shape[:2]
    shape_only = inp.keys.new_empty(B, Hkv, inp.total, 0)  # (B, Hkv, T, 0)
    return policy.score(ScoreInputs(shape_only, shape_only, inp.window, inp.layer, inp.n_layers))


def _snapkv(policy: Policy, inp: ShardScoreInputs) -> torch.Tensor:
    assert isinstance(policy, SnapKV)
    return policy.pool(window_votes(inp))


def _chunkkv(policy: Policy, inp: ShardScoreInputs) -> torch.Tensor:
    assert isinstance(policy, ChunkKV)
    return policy.chunked(window_votes(inp))  # chunks span ranks: summed over the global vote vector


def _adakv(policy: Policy, inp: ShardScoreInputs) -> torch.Tensor:
    assert isinstance(policy, AdaKV)
    return global_scores(policy.inner, inp)


RING_SCORERS: dict[Callable[..., Any], Callable[[Policy, ShardScoreInputs], torch.Tensor]] = {
    StreamingLLM.score: _positional,
    SnapKV.score: _snapkv,
    ChunkKV.score: _chunkkv,
    AdaKV.score: _adakv,
}


def scorer_of(policy: Policy) -> Callable[[Policy, ShardScoreInputs], torch.Tensor]:
    """The sharded scorer of ``policy`` (AdaKV: that of its inner policy); ValueError listing the supported ones."""
    fn = RING_SCORERS.get(type(policy).score)
    if fn is None:
        names = ", ".join(f.__qualname__.split(".")[0] for f in RING_SCORERS)
        raise ValueError(
            f"{type(policy).__name__} scores are not supported with world_size > 1 yet: use a policy "
            f"scored like {names} (or a subclass keeping its score), or serve with --gpus 1"
        )
    if isinstance(policy, AdaKV):
        scorer_of(policy.inner)
    return fn


def global_scores(policy: Policy, inp: ShardScoreInputs) -> torch.Tensor:
    """The single-device ``policy.score`` of the whole prompt, (B, Hkv, T) fp32, identical on every rank.

    A collective: every rank of ``inp.group`` calls it for the same layer.
    """
    return scorer_of(policy)(policy, inp).float()
