"""A tiny random Llama-3 with an LLM around it, shared by the KV tests."""

from __future__ import annotations

import pytest
import torch

from engine.llm import LLM
from engine.tokenizer import load_tokenizer
from engine.weights import load_model

PROMPT = [(7 * i + 3) % 256 for i in range(100)]


@pytest.fixture(scope="session")
def tiny_llm() -> LLM:
    model = load_model("synthetic:tiny-llama3", max_seq_len=256)
    with torch.no_grad():  # larger weights than the 0.02 init so greedy decoding is not a constant
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(20)
    return LLM(model, load_tokenizer(), max_seq_len=256, prefill_chunk=32)
