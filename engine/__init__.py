"""longhaul's inference engine: a Llama-family model, its tokenizer, KV cache and the `LLM` front end.

Exports load lazily so that ``import engine.tokenizer`` (used by packing/) does not import torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "LLM": "engine.llm", "Generation": "engine.llm", "ModelConfig": "engine.config", "Transformer": "engine.model",
    "KVCache": "engine.kv.cache", "attention": "engine.attention", "merge": "engine.attention",
    "load_model": "engine.weights", "load_tokenizer": "engine.tokenizer", "Tokenizer": "engine.tokenizer",
    "sample": "engine.sampling",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
