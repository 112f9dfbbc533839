"""Lookup items for the lost-in-the-middle sweep, built from a generated corpus and its ground truth.

The gold record is the chunk holding the question's first evidence string; distractors are other chunks of the
same kind (manifest rows, scan groups, ...), which look alike on purpose.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from eval.litm.sweep import LitmItem
from ingest.chunker import ChunkConfig, chunk_file
from ingest.loaders import discover, load_file
from ingest.records import Chunk

# One distinctive accepted answer each (a temporal answer such as "8" would match any digit in a reply).
LOOKUP_TYPES = ("single_needle", "multi_key")


def corpus_chunks(docs: Path, count: Callable[[str], int], max_tokens: int = 256) -> list[Chunk]:
    """Every chunk of a corpus directory, in file order (the ingest chunker, without embedding)."""
    files, _ = discover(docs)
    chunks: list[Chunk] = []
    for f in files:
        got, _ = chunk_file(load_file(f, docs), count, ChunkConfig(max_tokens))
        chunks += got
    return chunks


def litm_items(corpus: Path, count: Callable[[str], int], n_distractors: int = 14, seed: int = 0,
               types: Sequence[str] = LOOKUP_TYPES, max_items: int | None = None,
               max_record_tokens: int | None = None) -> list[LitmItem]:
    """One item per lookup question of ``corpus`` (a `longhaul generate` output directory).

    ``max_record_tokens`` skips longer chunks (gold and distractors), so that all of an item's records fit a packed
    budget and a sweep over ranks measures placement rather than truncation.
    """

    def short(c: Chunk) -> bool:
        return max_record_tokens is None or c.n_tokens <= max_record_tokens

    chunks = corpus_chunks(corpus / "docs", count)
    by_type: dict[str, list[Chunk]] = defaultdict(list)
    for c in chunks:
        by_type[str(c.metadata.get("doc_type", ""))].append(c)
    rng = random.Random(seed)
    items: list[LitmItem] = []
    for line in (corpus / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        if q["type"] not in types or (len(q["accept"]) > 1 and q.get("match") != "any"):
            continue
        gold = next((c for c in chunks if q["evidence"][0] in c.text), None)
        if gold is None or not short(gold):
            continue
        pool = [c for c in by_type[str(gold.metadata.get("doc_type", ""))]
                if short(c) and not any(ev in c.text for ev in q["evidence"])
                and not any(a in c.text for a in q["accept"])]
        if len(pool) < n_distractors:
            continue
        distractors = tuple(c.text for c in rng.sample(pool, n_distractors))
        items.append(LitmItem(q["question"], gold.text, distractors, tuple(q["accept"])))
        if max_items and len(items) >= max_items:
            break
    if not items:
        raise ValueError(f"no lookup questions of types {list(types)} found with enough distractors in {corpus}")
    return items
