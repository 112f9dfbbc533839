"""FAISS index vs brute-force numpy, the filter selector, HNSW past the threshold, and on-disk versions."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from ingest.records import Chunk
from retrieval.dense import DenseConfig, DenseIndex
from retrieval.embed import DIM
from retrieval.index import build_version, live_dir, live_version, load_chunks, next_version, prune, set_live


def _unit(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_flat_equals_bruteforce_and_filters(tmp_path: Path) -> None:
    vecs, q = _unit(500), _unit(1, seed=1)[0]
    idx = DenseIndex.build(vecs)
    ref = np.argsort(-(vecs @ q))[:10]
    assert [r for r, _ in idx.search(q, 10)] == ref.tolist()
    allowed = list(range(0, 500, 7))
    got = [r for r, _ in idx.search(q, 5, allowed)]
    sub = np.array(allowed)
    assert got == sub[np.argsort(-(vecs[sub] @ q))[:5]].tolist()
    assert idx.search(q, 5, []) == []
    idx.save(tmp_path / "d.faiss")
    assert [r for r, _ in DenseIndex.load(tmp_path / "d.faiss").search(q, 10)] == ref.tolist()


def test_hnsw_beyond_threshold_recalls() -> None:
    vecs = _unit(2000)
    idx = DenseIndex.build(vecs, DenseConfig(hnsw_threshold=1000))
    assert "HNSW" in type(faiss.downcast_index(idx.index.index)).__name__
    hits = 0
    for i in range(50):
        q = vecs[i * 37]
        hits += idx.search(q, 1)[0][0] == i * 37
    assert hits >= 48


def test_versions_swap_and_prune(tmp_path: Path) -> None:
    chunks = [Chunk(f"d#{i}", "d", f"d:{i}-{i}", f"text {i}", str(i), 2, {"timestamp": None}) for i in range(3)]
    with pytest.raises(FileNotFoundError, match="longhaul ingest"):
        live_dir(tmp_path)
    for n in range(1, 4):
        v = next_version(tmp_path)
        assert v == f"v{n:06d}"
        build_version(tmp_path, v, chunks, _unit(3))
        set_live(tmp_path, v)
        assert live_version(tmp_path) == v and load_chunks(live_dir(tmp_path)) == chunks
    assert prune(tmp_path, keep=2) == ["v000001"]
    with pytest.raises(ValueError, match="embed every chunk"):
        build_version(tmp_path, "v000009", chunks, _unit(2))
    with pytest.raises(FileNotFoundError, match="not complete"):
        set_live(tmp_path, "v000042")
