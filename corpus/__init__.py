"""The synthetic order-history corpus with ground truth: longhaul's domain RULER.

Standard library only (plus the repo's `ingest.domain`), so it can run on any machine, GPU hosts included.
"""

from corpus.planted import CANONICAL_QUESTION
from corpus.writer import CorpusConfig, estimate_tokens, generate_corpus

__all__ = ["CANONICAL_QUESTION", "CorpusConfig", "estimate_tokens", "generate_corpus"]
