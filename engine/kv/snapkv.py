"""SnapKV: the last prompt queries (observation window) vote for the tokens they attend to; votes are pooled.

Li et al., "SnapKV: LLM Knows What You are Looking for Before Generation", NeurIPS 2024 (arXiv:2404.14469).
Question-aware when applied after the whole prompt (``when="end"``: the question is in the window);
question-agnostic when applied before later chunks (``when="chunks"``: the window is the end of the context).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.kv.formats import POLICY_WINDOW
from engine.kv.policy import Policy, ScoreInputs, observation_attention


@dataclass
class SnapKV(Policy):
    """Votes = attention of the window queries, averaged over the window and the GQA group; score = the votes
    max-pooled over ``kernel`` neighbouring tokens (keeps whole phrases, not isolated tokens)."""

    window: int = POLICY_WINDOW
    kernel: int = 7

    def votes(self, inputs: ScoreInputs) -> torch.Tensor:
        attn = observation_attention(inputs)  # (B, Hkv, group, w, n)
        return attn.mean(dim=(2, 3))  # (B, Hkv, n)

    def from_votes(self, votes: torch.Tensor) -> torch.Tensor:
        """Max-pool ``votes`` (B, Hkv, n), in position order, over ``kernel`` neighbouring tokens."""
        if self.kernel > 1:
            votes = F.max_pool1d(votes, self.kernel, stride=1, padding=self.kernel // 2)
        return votes
