"""Training pairs for the domain cross-encoder, mined from a generated corpus and its questions.

Positives: every chunk that contains a gold evidence string. Hard negatives: chunks the keyword side of hybrid
retrieval ranks high for the question but that hold no evidence. Plus a few random chunks.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingest.chunker import chunk_file
from ingest.loaders import discover, load_file
from retrieval.keyword import KeywordIndex
from retrieval.query import analyze


def mine_pairs(
    corpus: Path, count: Callable[[str], int], n_hard: int = 12, n_random: int = 4, seed: int = 0
) -> list[dict[str, Any]]:
    """``[{"qid", "query", "text", "label"}]`` for every question of ``corpus`` (a `longhaul generate` dir)."""
    rng = random.Random(seed)
    files, _ = discover(corpus / "docs")
    chunks = [c for f in files for c in chunk_file(load_file(f, corpus / "docs"), count)[0]]
    questions = [json.loads(x) for x in (corpus / "questions.jsonl").read_text().splitlines() if x.strip()]
    pairs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        kw = KeywordIndex.build(Path(tmp) / "kw", chunks)
        for q in questions:
            qid = f"{corpus.name}/{q['id']}"
            gold = {i for i, c in enumerate(chunks) if any(e in c.text for e in q["evidence"])}
            a = analyze(q["question"])
            ranked = [r for r, _ in kw.search(a.expanded_text, 60, boosts=a.boosts)]
            keys = {k: v for k, v in (("order_ids", a.order_ids), ("exception_codes", a.exception_codes)) if v}
            if keys:
                ranked += [r for r, _ in kw.search(a.expanded_text, 30, keys)]
            hard = [r for r in dict.fromkeys(ranked) if r not in gold][:n_hard]
            rand = [r for r in rng.sample(range(len(chunks)), n_random) if r not in gold]
            for r in sorted(gold):
                pairs.append({"qid": qid, "query": q["question"], "text": chunks[r].text, "label": 1})
            for r in hard + rand:
                pairs.append({"qid": qid, "query": q["question"], "text": chunks[r].text, "label": 0})
    return pairs
