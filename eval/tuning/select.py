"""Evidence selection for tuning data: chunk a generated corpus, rank chunks by BM25, find the gold chunks.

The product retrieves with tantivy BM25 + dense + rerank; plain Okapi BM25 over the same chunks is close enough
to give the packer realistic distractors, and the recall it reaches is recorded with every example.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from corpus.domain import DATE_RE, ORDER_ID_RE
from ingest.chunker import ChunkConfig, chunk_file
from ingest.loaders import discover, load_file
from ingest.records import Chunk

_WORD = re.compile(r"[#\w][\w-]*")


def constraints_of(question: str) -> list[str]:
    """The pipeline's hard constraints of a question (same rule as ``app.services.answers.constraints_of``)."""
    out = [f"order #{m}" for m in ORDER_ID_RE.findall(question)]
    out += ["-".join(m) for m in DATE_RE.findall(question)]
    return out


def corpus_chunks(docs: Path, count: Callable[[str], int], max_tokens: int = 256) -> list[Chunk]:
    """Every chunk of a corpus's ``docs`` folder, as the ingest job makes them."""
    files, _ = discover(docs)
    chunks: list[Chunk] = []
    for f in files:
        got, _ = chunk_file(load_file(f, docs), count, ChunkConfig(max_tokens=max_tokens))
        chunks += got
    return chunks


def terms(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


class BM25:
    """Okapi BM25 (k1=1.5, b=0.75, idf floored at 0) over a fixed list of texts."""

    def __init__(self, texts: Sequence[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.docs = [Counter(terms(t)) for t in texts]
        self.lens = [sum(d.values()) for d in self.docs]
        self.avg = sum(self.lens) / max(1, len(self.lens))
        df: Counter[str] = Counter()
        for d in self.docs:
            df.update(d.keys())
        n = len(self.docs)
        self.idf = {t: max(0.0, math.log((n - f + 0.5) / (f + 0.5) + 1.0)) for t, f in df.items()}

    def scores(self, query: str) -> list[float]:
        q = [t for t in set(terms(query)) if t in self.idf]
        out = []
        for d, n in zip(self.docs, self.lens, strict=True):
            s = 0.0
            norm = self.k1 * (1 - self.b + self.b * n / self.avg)
            for t in q:
                f = d.get(t, 0)
                if f:
                    s += self.idf[t] * f * (self.k1 + 1) / (f + norm)
            out.append(s)
        return out

    def rank(self, query: str) -> list[tuple[int, float]]:
        """(index, score) of every text, best first (ties by index)."""
        s = self.scores(query)
        return sorted(enumerate(s), key=lambda x: (-x[1], x[0]))


def gold_chunks(question: Mapping[str, Any], chunks: Sequence[Chunk]) -> list[int]:
    """Indices of the chunks holding the question's evidence strings.

    A policy question's window phrase (``within 45 days``) is gold only in the policy file whose heading is.
    """
    ev = [str(e) for e in question["evidence"]]
    if question["type"] == "policy_version":
        heads = [i for i, c in enumerate(chunks) if ev[0] in c.text]
        docs = {chunks[i].doc_id for i in heads}
        rest = [i for i, c in enumerate(chunks) if c.doc_id in docs and any(e in c.text for e in ev[1:])]
        return sorted(set(heads) | set(rest))
    return [i for i, c in enumerate(chunks) if any(e in c.text for e in ev)]
