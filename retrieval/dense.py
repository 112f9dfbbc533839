"""FAISS inner-product index over unit vectors: exact (Flat) while small, HNSW beyond a size threshold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from retrieval.embed import DIM


@dataclass(frozen=True)
class DenseConfig:
    hnsw_threshold: int = 200_000  # vectors; Flat search below this is both exact and fast enough
    hnsw_m: int = 32
    ef_search: int = 128
    threads: int = 1  # measured: on 2 cores, 2 threads made batched Flat search slower than 1


def _maybe_gpu(index: faiss.Index) -> faiss.Index:
    if hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0:  # faiss-gpu installed and a GPU present
        return faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    return index


class DenseIndex:
    """Rows are the chunk positions of an index version (ids 0..n-1)."""

    def __init__(self, index: faiss.Index, config: DenseConfig) -> None:
        self.index = index
        self.config = config
        faiss.omp_set_num_threads(config.threads)

    @classmethod
    def build(cls, vectors: np.ndarray, config: DenseConfig | None = None) -> DenseIndex:
        cfg = config or DenseConfig()
        assert vectors.ndim == 2 and vectors.shape[1] == DIM, vectors.shape
        if len(vectors) >= cfg.hnsw_threshold:
            base = faiss.IndexHNSWFlat(DIM, cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            base.hnsw.efSearch = cfg.ef_search
        else:
            base = faiss.IndexFlatIP(DIM)  # type: ignore[assignment]  # both are faiss.Index
        index = faiss.IndexIDMap2(base)
        if len(vectors):
            index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.arange(len(vectors), dtype=np.int64))
        return cls(index, cfg)

    def save(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path, config: DenseConfig | None = None) -> DenseIndex:
        if not path.exists():
            raise FileNotFoundError(f"no FAISS index at {path}: run `longhaul ingest DIR --tenant T` first")
        return cls(_maybe_gpu(faiss.read_index(str(path))), config or DenseConfig())

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, vector: np.ndarray, k: int = 50, allowed: Sequence[int] | None = None) -> list[tuple[int, float]]:
        """Top ``k`` ``(row, cosine)``; ``allowed`` restricts the search to those rows (metadata filters)."""
        if len(self) == 0 or (allowed is not None and len(allowed) == 0):
            return []
        q = np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32)
        params = None
        if allowed is not None:
            sel = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
            params = faiss.SearchParameters(sel=sel)  # type: ignore[call-arg]  # the stubs omit `sel`
        scores, ids = self.index.search(q, min(k, len(self)), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
