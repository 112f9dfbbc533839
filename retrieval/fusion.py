"""Rank fusion: plain functions in one dict, chosen by name with `fuse`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

Ranking = Sequence[tuple[int, float]]  # (row, score), best first


def rrf(rankings: Sequence[Ranking], weights: Sequence[float], k: int = 60) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion (Cormack, Clarke & Buettcher, SIGIR 2009): ``sum_i w_i / (k + rank_i)``, rank from 1."""
    scores: dict[int, float] = {}
    for ranking, w in zip(rankings, weights, strict=True):
        for rank, (row, _) in enumerate(ranking, start=1):
            scores[row] = scores.get(row, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda t: (-t[1], t[0]))


def score_sum(rankings: Sequence[Ranking], weights: Sequence[float], k: int = 60) -> list[tuple[int, float]]:
    """Weighted sum of min-max normalised scores per ranking (``k`` unused; kept for one signature)."""
    scores: dict[int, float] = {}
    for ranking, w in zip(rankings, weights, strict=True):
        if not ranking:
            continue
        vals = [s for _, s in ranking]
        lo, hi = min(vals), max(vals)
        for row, s in ranking:
            scores[row] = scores.get(row, 0.0) + w * ((s - lo) / (hi - lo) if hi > lo else 1.0)
    return sorted(scores.items(), key=lambda t: (-t[1], t[0]))


FUSION_METHODS: dict[str, Callable[..., list[tuple[int, float]]]] = {"rrf": rrf, "score_sum": score_sum}


def fuse(
    method: str, rankings: Sequence[Ranking], weights: Sequence[float] | None = None, k: int = 60
) -> list[tuple[int, float]]:
    """Fuse ranked lists with ``method`` (one of `FUSION_METHODS`); equal weights by default."""
    if method not in FUSION_METHODS:
        raise ValueError(f"unknown fusion method {method!r}; choose one of {sorted(FUSION_METHODS)}")
    if weights is not None and len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings: pass one weight per ranking")
    return FUSION_METHODS[method](rankings, weights or [1.0] * len(rankings), k)
