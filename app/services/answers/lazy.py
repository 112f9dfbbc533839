"""`LazyLLM`: a `Generator` that loads the engine on first use, so building a pipeline imports no torch and a
retrieval-only answer never loads the model."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from app.services.answers.contracts import GenerationLike, Generator
from packing.packer import TokenizerLike

if TYPE_CHECKING:
    from engine.kv import KVSpec


class LazyLLM:
    """Calls ``load`` once, on the first `generate` (thread-safe), then forwards to it. ``tokenizer``, when given,
    loads the tokenizer alone, so that counting a prompt (and refusing one over budget) loads no weights."""

    def __init__(self, load: Callable[[], Generator], tokenizer: Callable[[], TokenizerLike] | None = None) -> None:
        self._load = load
        self._load_tokenizer = tokenizer
        self._tokenizer: TokenizerLike | None = None
        self._engine: Generator | None = None
        self._lock = threading.Lock()

    @classmethod
    def bundled(cls, threads: int | None = None, weights: str = "fp32") -> LazyLLM:
        """The bundled SmolLM2 with its domain adapter (`engine.llm.LLM.load`); ``threads``: torch threads;
        ``weights``: fp32, int8 or q4 (engine/quant.py)."""

        def load() -> Generator:
            from engine.llm import LLM

            return LLM.load(threads=threads or None, weights=weights)

        def tokenizer() -> TokenizerLike:
            from engine.tokenizer import load_tokenizer

            return load_tokenizer()  # the bundled model's own tokenizer, without its weights

        return cls(load, tokenizer)

    @property
    def engine(self) -> Generator:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = self._load()
        return self._engine

    @property
    def tokenizer(self) -> TokenizerLike:
        if self._engine is not None or self._load_tokenizer is None:
            return self.engine.tokenizer
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    self._tokenizer = self._load_tokenizer()
        return self._tokenizer

    def generate(self, prompt: str, *, max_new_tokens: int, stop: Sequence[str], chat: bool,
                 kv_policy: KVSpec | None, on_token: Callable[[str], None] | None = None) -> GenerationLike:
        return self.engine.generate(prompt, max_new_tokens=max_new_tokens, stop=stop, chat=chat, kv_policy=kv_policy,
                                    on_token=on_token)

    def kv_bytes_for(self, n_tokens: int) -> int:
        return self.engine.kv_bytes_for(n_tokens)
