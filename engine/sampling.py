"""Next-token choice from logits: greedy, temperature and nucleus (top-p), with no host synchronisation."""

from __future__ import annotations

import torch


def sample(logits: torch.Tensor, temperature: float = 0.0, top_p: float = 1.0,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Pick one token per row of ``logits`` (B, V); returns (B,) int64 on the logits' device.

    ``temperature == 0`` is greedy (argmax). Otherwise sample from ``softmax(logits / temperature)`` restricted to
    the smallest set of tokens whose probability reaches ``top_p``, using the exponential-race trick
    (argmax of p / Exp(1)) so that nothing waits on the host.
    """
    if temperature < 0 or not 0 < top_p <= 1:
        raise ValueError(f"need temperature >= 0 and 0 < top_p <= 1, got {temperature} and {top_p}")
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)  # (B, V)
    if top_p < 1:
        sorted_p, idx = probs.sort(dim=-1, descending=True)
        outside = sorted_p.cumsum(dim=-1) - sorted_p >= top_p  # tokens after the nucleus is complete
        sorted_p = sorted_p.masked_fill(outside, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, idx, sorted_p)
    race = torch.empty_like(probs).exponential_(1.0, generator=generator)
    return (probs / race).argmax(dim=-1)
