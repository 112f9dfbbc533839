"""A tiny random Llama-3 with an LLM around it, shared by the KV tests."""

from __future__ import annotations

import pytest

from engine.llm import LLM
from engine.tokenizer import load_tokenizer
from tests.tiny import loud_tiny_model

PROMPT = [(7 * i + 3) % 256 for i in range(100)]


@pytest.fixture(scope="session")
def tiny_llm() -> LLM:
    model = loud_tiny_model("tiny-llama3", max_seq_len=256)
    return LLM(model, load_tokenizer(), max_seq_len=256, prefill_chunk=32)
