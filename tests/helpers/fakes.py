"""Test doubles: a deterministic bag-of-words embedder that counts what it embeds (no model load)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np

from retrieval.embed import DIM
from retrieval.keyword import tokenize


class HashEmbedder:
    def __init__(self) -> None:
        self.embedded = 0

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, t in enumerate(texts):
            for tok in tokenize(t):
                out[i, int(hashlib.md5(tok.encode()).hexdigest()[:8], 16) % DIM] += 1.0
            out[i] /= max(float(np.linalg.norm(out[i])), 1e-9)
        self.embedded += len(texts)
        if progress:
            progress(len(texts))
        return out

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]
