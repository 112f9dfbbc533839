"""Generated corpora for the benchmarks and evals the CLI runs: made once in a folder, reused while its ground truth
is there. The app's bench, eval and train commands get their data here, so only `demo` and `generate` run the
generator themselves."""

from __future__ import annotations

from pathlib import Path

from corpus import CorpusConfig, TokenCounter, estimate_tokens, generate_corpus
from corpus.writer import WORLD_NAMES, prepare_output

__all__ = ["WORLD_NAMES", "generated"]


def generated(out: Path, *, tokens: int, seed: int, world: str = "a", tenant: str = "bench",
              questions_per_type: int = 4, count: TokenCounter = estimate_tokens) -> Path:
    """``out`` holding a generated history of ``world`` (``out/docs``, ``out/questions.jsonl``), generated unless
    an earlier run left its ``questions.jsonl``; ``count`` measures lines in tokens."""
    if not (out / "questions.jsonl").exists():
        prepare_output(out)
        cfg = CorpusConfig(tenant=tenant, tokens=tokens, seed=seed, world=world,
                           questions_per_type=questions_per_type)
        generate_corpus(out, cfg, count)
    return out
