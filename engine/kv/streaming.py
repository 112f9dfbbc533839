"""StreamingLLM: keep the first tokens (attention sinks) and a recent window.

Xiao et al., "Efficient Streaming Language Models with Attention Sinks", ICLR 2024 (arXiv:2309.17453).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.kv.policy import Policy, ScoreInputs


@dataclass
class StreamingLLM(Policy):
    """Score = recency, with the first ``n_sink`` tokens pinned: the budget keeps sinks + the most recent rest. It
    depends on positions only: no votes (zeros), the score comes from the sequence's length."""

    n_sink: int = 4

    def votes(self, inputs: ScoreInputs) -> torch.Tensor:
        return torch.zeros(inputs.keys.shape[:3], device=inputs.keys.device)  # (B, Hkv, n)

    def from_votes(self, votes: torch.Tensor) -> torch.Tensor:
        B, H, n = votes.shape
        s = torch.arange(n, dtype=torch.float32, device=votes.device).expand(B, H, n).clone()  # (B, Hkv, n)
        s[..., : self.n_sink] = float(n)  # above every recent token
        return s
