"""StreamingLLM: keep the first tokens (attention sinks) and a recent window.

Xiao et al., "Efficient Streaming Language Models with Attention Sinks", ICLR 2024 (arXiv:2309.17453).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.kv.policy import Policy, ScoreInputs


@dataclass
class StreamingLLM(Policy):
    """Score = recency, with the first ``n_sink`` tokens pinned: the budget keeps sinks + the most recent rest."""

    n_sink: int = 4

    def score(self, inputs: ScoreInputs) -> torch.Tensor:
        B, H, n = inputs.keys.shape[:3]
        s = torch.arange(n, dtype=torch.float32, device=inputs.keys.device).expand(B, H, n).clone()  # (B, Hkv, n)
        s[..., : self.n_sink] = float(n)  # above every recent token
        return s
