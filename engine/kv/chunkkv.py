"""ChunkKV: SnapKV's votes summed over fixed chunks of neighbouring tokens; whole chunks are kept or dropped.

Liu et al., "ChunkKV: Semantic-Preserving KV Cache Compression for Efficient Long-Context LLM Inference",
arXiv:2502.00299. Token-level selection keeps the few tokens of a record the window attends to most and drops the
digits and names around them; a chunk keeps the phrase (an order id with its carrier and date) together.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.kv.snapkv import SnapKV


@dataclass
class ChunkKV(SnapKV):
    """Score of a token = the summed window attention of its ``chunk`` (positions ``[c * chunk, (c + 1) * chunk)``),
    so `select`'s top-k takes whole chunks, best first (a position-ordered tie-break keeps chunks contiguous).

    ``chunk=64`` was chosen on the 2K domain lookups (eval/results/kv_cpu_domain_chunkkv.json: 16 / 32 / 64 kept
    0.57 / 0.86 / 1.00 of the full cache's accuracy at 4x, n=12), where a record is 60-300 tokens; the paper's 10
    suits prose. The 4K run checks it on other packings of the same questions."""

    chunk: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.chunk < 1:
            raise ValueError(f"chunk must be >= 1 token, got {self.chunk}")

    def from_votes(self, votes: torch.Tensor) -> torch.Tensor:
        """Per-token scores (B, Hkv, n) from SnapKV's window ``votes`` (B, Hkv, n) in position order: each chunk's
        sum, earlier tokens ahead on ties (chunks may span ranks: engine/parallel hands it the summed votes)."""
        B, H, n = votes.shape
        pad = -n % self.chunk
        sums = F.pad(votes, (0, pad)).view(B, H, -1, self.chunk).sum(-1)  # (B, Hkv, n_chunks)
        per_token = sums.repeat_interleave(self.chunk, dim=-1)[..., :n]
        order = torch.arange(n, device=votes.device, dtype=votes.dtype)
        return per_token - order * 1e-9 * per_token.abs().amax().clamp_min(1e-30)  # earlier tokens win ties
