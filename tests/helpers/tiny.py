"""Tiny random models for the tests, with weights 20x the 0.02 init so greedy decoding is not a constant."""

from __future__ import annotations

import torch

from engine.model import Transformer
from engine.weights import load_model


def loud_tiny_model(name: str = "tiny-llama3", max_seq_len: int = 256) -> Transformer:
    """``synthetic:<name>`` with every matrix scaled by 20 (tiny-llama3, tiny-qwen2, tiny-mistral)."""
    model = load_model(f"synthetic:{name}", max_seq_len=max_seq_len)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(20)
    return model


PROMPT = [(7 * i + 3) % 256 for i in range(100)]  # token ids of a 100-token prompt for the tiny models
