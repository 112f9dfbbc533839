"""Session-wide test setup.

Triton reads ``TRITON_INTERPRET`` when its language module and the project's kernels are first defined, and torch
may import Triton early; setting it here, before anything is imported, lets the CPU run the decode kernels
(engine/decode_kernel.py) in Triton's interpreter. Only tests that opt in (``engine.attention.KERNELS_ON_CPU``)
route CPU tensors through them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

os.environ.setdefault("TRITON_INTERPRET", "1")

if TYPE_CHECKING:
    from engine.llm import LLM


@pytest.fixture(scope="session")
def tiny_llm() -> LLM:
    """A tiny random Llama-3 with an LLM around it, shared by the KV tests (engine/kv, eval/kv)."""
    from engine.llm import LLM
    from engine.tokenizer import load_tokenizer
    from tests.helpers.tiny import loud_tiny_model

    model = loud_tiny_model("tiny-llama3", max_seq_len=256)
    return LLM(model, load_tokenizer(), max_seq_len=256, prefill_chunk=32)
