"""H2O: heavy hitters (tokens with the most accumulated attention) plus a recent window; evicts during decode too.

Zhang et al., "H2O: Heavy-Hitter Oracle for Efficient Generative Inference of Large Language Models",
NeurIPS 2023 (arXiv:2306.14048). The paper splits the budget half heavy hitters, half recent tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.kv.policy import Policy, ScoreInputs


@dataclass
class H2O(Policy):
    """Score = attention summed over every query so far (the cache accumulates it); ``recent_frac`` of the budget
    goes to the most recent tokens (instead of ``window``)."""

    recent_frac: float = 0.5
    when: str = "always"

    needs_attn_sum = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.recent_frac <= 1.0:
            raise ValueError(f"recent_frac must lie in [0, 1], got {self.recent_frac}")

    def recent(self, k: int) -> int:
        return int(k * self.recent_frac)

    def votes(self, inputs: ScoreInputs) -> torch.Tensor:
        """The attention each token received, (B, Hkv, n): its score as it is."""
        assert inputs.attn_sum is not None, "the cache tracks attn_sum for policies with needs_attn_sum"
        return inputs.attn_sum
