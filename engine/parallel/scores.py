"""Global KV-compression scores from a zigzag-sharded prompt: every rank gets the single-device score vector.

After `ring_prefill` each rank holds the keys of its own positions, but a token's score may depend on the whole
sequence: SnapKV normalises every window query over all keys and max-pools over neighbouring positions (which may
live on another rank); StreamingLLM scores by global position. A policy scores in two steps (engine/kv/policy.py):
`votes`, which add up over disjoint parts of the sequence, and `from_votes` on the whole sequence's votes. So each
rank computes its own tokens' votes with the policy's own code (window attention normalised by the log-sum-exp over
every rank's keys: one all-gather of (B, Hkv, group, w)), one all-reduce of a zero-filled (B, Hkv, T) vector, in
which every position is written by exactly one rank (the sum is exact), gives all ranks the same global votes, and
the policy's `from_votes` and `select` then pick the kept tokens, the same on every rank: the budget is global and
the union of the ranks' kept tokens is the single-device set.

A policy that overrides `score` instead of implementing `votes` (`Policy.splits_votes` is False) is refused.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from engine.kv.policy import Policy, ScoreInputs, Shard, window_logits


def check_splits_votes(policy: Policy) -> None:
    """ValueError unless ``policy`` scores by `votes` + `from_votes` (what the ring can sum over ranks)."""
    if not policy.splits_votes():
        raise ValueError(
            f"{type(policy).__name__} overrides score() instead of implementing votes() (and from_votes()), which "
            "is not supported with world_size > 1: use StreamingLLM, SnapKV, PyramidKV, ChunkKV or AdaKV over "
            "them (or a policy implementing votes), or serve with --gpus 1"
        )


def scatter_sum(
    local: torch.Tensor, positions: torch.Tensor, total: int, group: dist.ProcessGroup | None
) -> torch.Tensor:
    """Every rank's (B, H, n_local) values at their global positions -> (B, H, total) fp32 on every rank."""
    full = torch.zeros(*local.shape[:2], total, dtype=torch.float32, device=local.device)
    full[..., positions.to(local.device)] = local.float()
    dist.all_reduce(full, group=group)  # each position is non-zero on one rank only: the sum is exact
    return full


def shard_inputs(
    keys: torch.Tensor,
    values: torch.Tensor,
    positions: torch.Tensor,
    window: torch.Tensor,
    total: int,
    layer: int,
    n_layers: int,
    group: dist.ProcessGroup | None,
) -> ScoreInputs:
    """The `ScoreInputs` of this rank's part of one layer, its window attention normalised over every rank's keys.

    ``keys``, ``values``: (B, Hkv, n_local, D) this rank's prompt tokens (rotary applied) at global ``positions``
    (n_local,), ascending. ``window``: (B, Hq, w, D) fp32 queries of the last ``w`` prompt positions, identical on
    every rank. A collective (one all-gather): every rank of ``group`` calls it for the same layer.
    """
    part = ScoreInputs(keys, values, window, layer, n_layers, shard=Shard(positions, total))
    lse = window_logits(part).logsumexp(dim=-1)  # (B, Hkv, group, w) over this rank's keys
    parts = [torch.empty_like(lse) for _ in range(dist.get_world_size(group))]
    dist.all_gather(parts, lse, group=group)
    total_lse = torch.stack(parts).logsumexp(dim=0)  # finite: every query sees at least its own key
    part.shard = Shard(positions, total, total_lse)
    return part


def global_scores(policy: Policy, inputs: ScoreInputs, group: dist.ProcessGroup | None) -> torch.Tensor:
    """The single-device ``policy.score`` of the whole prompt, (B, Hkv, T) fp32, identical on every rank, from this
    rank's part (``inputs`` of `shard_inputs`). A collective: every rank of ``group`` calls it for the same layer."""
    check_splits_votes(policy)
    shard = inputs.shard
    assert shard is not None, "global_scores takes the inputs of shard_inputs"
    votes = scatter_sum(policy.votes(inputs), shard.positions, shard.total, group)  # (B, Hkv, T)
    return policy.from_votes(votes).float()
