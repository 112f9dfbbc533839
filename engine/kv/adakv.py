"""AdaKV: adaptive per-head budgets; wraps another policy and shares the layer's budget across its KV heads.

Feng et al., "Ada-KV: Optimizing KV Cache Eviction by Adaptive Budget Allocation for Efficient LLM Inference",
arXiv:2407.11550. The layer keeps the ``n_heads * k`` best (head, token) pairs by the inner policy's score, with a
safeguard of ``alpha_safeguard * k`` tokens per head. Our cache stores every head with the same length (no ragged
attention kernel on this path), so each head is filled up to the largest head's share with its next-best tokens:
accuracy is at least AdaKV's, and the bytes reported are those really stored (more than ``k`` per head).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from engine.kv.formats import ADAKV_ALPHA_SAFEGUARD
from engine.kv.policy import Policy, ScoreInputs
from engine.kv.snapkv import SnapKV


@dataclass
class AdaKV(Policy):
    """Wrapper: ``inner`` scores the tokens and sets ratio/budget, window and when (this wrapper's own are
    ignored); per-head shares come from the layer-wide top-k."""

    inner: Policy = field(default_factory=lambda: SnapKV(ratio=4.0))
    alpha_safeguard: float = ADAKV_ALPHA_SAFEGUARD
    ratio: float | None = 1.0  # placeholder; the inner policy's budget is used

    may_exceed_budget = True

    def __post_init__(self) -> None:
        super().__post_init__()
        self.ratio, self.budget = self.inner.ratio, self.inner.budget
        self.window, self.when = self.inner.window, self.inner.when
        self.needs_attn_sum = self.inner.needs_attn_sum  # type: ignore[misc]

    @property
    def name(self) -> str:
        return f"adakv-{self.inner.name}"

    def layer_budget(self, n_seen: int, layer: int, n_layers: int) -> int:
        return self.inner.layer_budget(n_seen, layer, n_layers)

    def recent(self, k: int) -> int:
        return self.inner.recent(k)

    def score(self, inputs: ScoreInputs) -> torch.Tensor:
        return self.inner.score(inputs)

    def votes(self, inputs: ScoreInputs) -> torch.Tensor:
        return self.inner.votes(inputs)

    def from_votes(self, votes: torch.Tensor) -> torch.Tensor:
        return self.inner.from_votes(votes)

    def splits_votes(self) -> bool:
        return self.inner.splits_votes()

    def select(self, scores: torch.Tensor, n_seen: int, layer: int, n_layers: int) -> torch.Tensor | None:
        B, H, n = scores.shape
        protected = self.protect_recent(scores, n_seen, layer, n_layers)
        if protected is None:
            return None
        scores, k = protected
        floor = min(int(self.alpha_safeguard * k), k)
        if floor:
            safe = scores.topk(floor, dim=-1).indices
            scores = scores.scatter(-1, safe, float("inf"))
        chosen = scores.flatten(1).topk(H * k, dim=-1).indices // n  # (B, H*k) head of each chosen pair
        share = torch.stack([(chosen == h).sum(-1) for h in range(H)], dim=-1)  # (B, Hkv)
        m = int(share.max())
        if m >= n:
            return None
        return scores.topk(m, dim=-1).indices.sort(dim=-1).values  # (B, Hkv, m)
