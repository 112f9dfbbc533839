"""The synthetic order-history corpus with ground truth: longhaul's domain RULER, in two worlds.

World a (`corpus.writer`, with the repo's `corpus.domain` names) and world b (`corpus.world_b`, its own vocabulary,
layout and log formats). Standard library only, so it can run on any machine, GPU hosts included.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from corpus.planted import CANONICAL_QUESTION
from corpus.world import N_MONTHS as WORLD_A_MONTHS
from corpus.world_b import CANONICAL_QUESTION as CANONICAL_QUESTION_B
from corpus.world_b import generate_world_b
from corpus.world_b.vocab import N_MONTHS as WORLD_B_MONTHS
from corpus.writer import WORLD_NAMES, CorpusConfig, TokenCounter, estimate_tokens
from corpus.writer import generate_corpus as generate_world_a

Generator = Callable[[Path, CorpusConfig, TokenCounter, Callable[[int, int], None] | None], dict[str, object]]
WORLDS: dict[str, Generator] = {"a": generate_world_a, "b": generate_world_b}
CANONICAL_QUESTIONS = {"a": CANONICAL_QUESTION, "b": CANONICAL_QUESTION_B}
WORLD_MONTHS = {"a": WORLD_A_MONTHS, "b": WORLD_B_MONTHS}  # how many months each history spans (progress bars)
assert tuple(WORLDS) == WORLD_NAMES, "CorpusConfig validates against WORLD_NAMES: keep the two in step"


def generate_corpus(out: Path, cfg: CorpusConfig, count: TokenCounter = estimate_tokens,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, object]:
    """Write the history of world ``cfg.world`` to ``out/docs``, its ground truth to ``out/questions.jsonl``, and
    return the statistics (also in ``out/stats.json``). ``progress(month, tokens_so_far)`` follows the months."""
    if cfg.world not in WORLDS:
        raise ValueError(f"world must be one of {sorted(WORLDS)}, got {cfg.world!r}")
    return WORLDS[cfg.world](out, cfg, count, progress)


__all__ = ["CANONICAL_QUESTION", "CANONICAL_QUESTIONS", "WORLDS", "WORLD_MONTHS", "CorpusConfig", "estimate_tokens",
           "generate_corpus"]
