"""Test doubles: a deterministic bag-of-words embedder that counts what it embeds (no model load), and a retriever
source that only names a version."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Never

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


class OneVersion:
    """A `RetrieverSource` for API tests whose fake pipeline never retrieves: every tenant's live index version is
    ``version``."""

    def __init__(self, version: str = "v000001") -> None:
        self.version = version

    def live_version(self, tenant: str) -> str:
        return self.version

    def get(self, tenant: str, version: str) -> Never:
        raise LookupError(f"OneVersion holds no retrievers (asked for {tenant!r} {version!r})")
