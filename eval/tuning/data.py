"""Build the domain-tuning data: generated corpora -> chunks -> BM25 -> packed prompts -> answers citing labels.

Prompts are packed exactly as the pipeline packs them (``packing.pack``, order "ours", the question's constraints,
the default system prompt), so the adapter learns the product's real prompt. Training seeds and eval seeds are
disjoint ranges (``EVAL_SEED_MIN`` and up are eval-only); the ``paraphrase`` question type and the reworded
templates of ``targets.PARAPHRASES`` appear only in eval data.
"""

from __future__ import annotations

import json
import lzma
import random
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpus import CorpusConfig, generate_corpus
from eval.tuning.select import BM25, constraints_of, corpus_chunks, gold_chunks
from eval.tuning.targets import not_found_answer, paraphrase, target_answer, training_rewording
from ingest.records import Chunk
from packing import Evidence, pack
from packing.packer import Packed, TokenizerLike

EVAL_SEED_MIN = 9000
EVAL_ONLY_TYPES = frozenset({"paraphrase"})
LOOKUP_TYPES = ("single_needle", "multi_key")  # "usable context" = where these stay >= 50% right
TRAIN_BUDGETS: dict[int, float] = {1024: 0.15, 2048: 0.25, 4096: 0.35, 8192: 0.15, 16384: 0.10}
# the types a 135M model finds hardest (date arithmetic, multi-record lists) are asked more than once per corpus
TRAIN_REPEATS: dict[str, int] = {"temporal": 3, "cross_order": 3, "aggregation": 2}


@dataclass(frozen=True)
class TuneDataConfig:
    """One data split: corpora ``seeds``, each of ``tokens`` with ``questions_per_type`` planted questions.

    ``budgets`` maps packed-prompt budgets to sampling weights (train: one budget per question) or, for eval,
    lists the budgets every question is packed at (weights ignored).
    """

    split: str = "train"
    seeds: tuple[int, ...] = tuple(range(200))
    tokens: int = 20_000
    questions_per_type: int = 3
    budgets: dict[int, float] = field(default_factory=lambda: dict(TRAIN_BUDGETS))
    negatives: float = 0.05  # share of training examples with the gold removed: the answer is "not found"
    paraphrased_budgets: tuple[int, ...] = (4096,)  # eval: also ask the reworded question at these budgets
    lookup_budgets: tuple[int, ...] = ()  # eval: extra (long) budgets asked for the lookup types only
    types: tuple[str, ...] = ()  # only these question types (empty: all)
    repeats: dict[str, int] = field(default_factory=lambda: dict(TRAIN_REPEATS))  # train: examples per question
    reworded: float = 0.3  # train: share of questions asked in a training-only rewording
    # train: share of examples whose gold is moved to a random rank (any packed position). 0 reproduces the bundled
    # adapter's data, which then learned to answer from the first record [E1] (eval/results/kv_cpu_domain.json)
    spread: float = 0.0

    def __post_init__(self) -> None:
        if self.split not in ("train", "eval"):
            raise ValueError(f"split must be 'train' or 'eval', got {self.split!r}")
        held = [s for s in self.seeds if s >= EVAL_SEED_MIN]
        if self.split == "train" and held:
            raise ValueError(f"seeds {held[:3]}... are held out for eval (>= {EVAL_SEED_MIN}): pick lower seeds")
        if self.split == "eval" and any(s < EVAL_SEED_MIN for s in self.seeds):
            raise ValueError(f"eval seeds must be >= {EVAL_SEED_MIN} so they never overlap training seeds")
        if not self.budgets or min(self.budgets) < 512:
            raise ValueError("budgets must be a non-empty {tokens: weight} map with every budget >= 512")
        if not (0.0 <= self.reworded <= 1.0 and 0.0 <= self.spread <= 1.0) or any(n < 1 for n in self.repeats.values()):
            raise ValueError("reworded and spread must lie in [0, 1] and every repeat count be >= 1")
        if not 0.0 <= self.negatives < 0.5:
            raise ValueError(f"negatives must lie in [0, 0.5), got {self.negatives}")


def _candidates(chunks: Sequence[Chunk], ranked: Sequence[tuple[int, float]], gold: Sequence[int], budget: int,
                rng: random.Random, drop_gold: bool, spread: bool = False) -> tuple[list[Evidence], float]:
    """Retrieval results for one prompt: BM25's top-k, gold inserted where BM25 missed it; and the recall@k."""
    avg = sum(c.n_tokens for c in chunks) / max(1, len(chunks))
    k = min(len(ranked), int(budget / avg * 1.5) + 8)
    top = [i for i, _ in ranked[:k]]
    score = dict(ranked)
    recall = sum(g in top for g in gold) / max(1, len(gold))
    if drop_gold:
        top = [i for i in top if i not in gold]
    elif spread:  # the gold at any rank that fits, so its packed position is anywhere (no "answer from [E1]")
        top = [i for i in top if i not in gold]
        fit = max(1, int(budget / avg))
        for g in gold:
            top.insert(rng.randrange(0, min(fit, len(top)) + 1), g)
    else:
        fit = max(1, int(budget / avg * 0.5))
        for g in gold:
            if g not in top:
                top.insert(rng.randrange(0, min(fit, len(top)) + 1), g)
    ev = [Evidence(chunks[i].id, chunks[i].source, chunks[i].text, float(score[i]), r + 1,
                   chunks[i].metadata.get("timestamp")) for r, i in enumerate(top)]
    return ev, recall


def make_example(q: dict[str, Any], chunks: Sequence[Chunk], bm25: BM25, tok: TokenizerLike, budget: int,
                 rng: random.Random, *, negative: bool = False, question: str | None = None,
                 spread: bool = False) -> dict[str, Any] | None:
    """One packed prompt + target for question record ``q``; None when the gold does not fit the budget."""
    text = question or str(q["question"])
    gold = gold_chunks(q, chunks)
    if not gold:
        return None
    ev, recall = _candidates(chunks, bm25.rank(text), gold, budget, rng, negative, spread)
    packed: Packed = pack(text, ev, tok, budget, order="ours", constraints=constraints_of(text))
    gold_ids = {chunks[g].id for g in gold}
    gold_map = {p.label: p.text for p in packed.evidence if p.id in gold_ids}
    if negative:
        target = not_found_answer()
    elif len(gold_map) < len(gold_ids):
        return None
    else:
        try:
            target = target_answer(q, gold_map)
        except ValueError:
            return None
    return {"qid": q["id"], "type": q["type"], "budget": budget, "question": text, "prompt": packed.prompt,
            "tokens": packed.tokens, "target": target, "accept": q["accept"], "match": q["match"],
            "gold_labels": sorted(gold_map), "retrieval_recall": round(recall, 3), "negative": negative,
            "paraphrased": question is not None, "depth": q["depth"]}


def corpus_examples(seed: int, cfg: TuneDataConfig, tok: TokenizerLike, workdir: Path) -> Iterator[dict[str, Any]]:
    """Every example of one corpus seed (train: one sampled budget per question; eval: all budgets)."""
    rng = random.Random(f"tune:{cfg.split}:{seed}")
    depth = None if seed % 2 == 0 else round(rng.uniform(0.0, 1.0), 3)
    out = workdir / f"c{seed}"
    generate_corpus(out, CorpusConfig(tenant=f"t{seed}", tokens=cfg.tokens, seed=seed, depth=depth,
                                      questions_per_type=cfg.questions_per_type))
    chunks = corpus_chunks(out / "docs", tok.count)
    bm25 = BM25([c.text for c in chunks])
    questions = [json.loads(line) for line in (out / "questions.jsonl").read_text().splitlines() if line]
    budgets, weights = list(cfg.budgets), list(cfg.budgets.values())
    for q in questions:
        if cfg.types and q["type"] not in cfg.types:
            continue
        if cfg.split == "train":
            if q["type"] in EVAL_ONLY_TYPES:
                continue
            for _ in range(cfg.repeats.get(str(q["type"]), 1)):
                b = rng.choices(budgets, weights)[0]
                negative = rng.random() < cfg.negatives
                reworded = (training_rewording(str(q["question"]), str(q["type"]), rng.randrange(1 << 30))
                            if rng.random() < cfg.reworded else None)
                spread = cfg.spread > 0 and rng.random() < cfg.spread
                ex = make_example(q, chunks, bm25, tok, b, rng, negative=negative, question=reworded, spread=spread)
                if ex:  # "paraphrased" marks the eval-only rewordings; training ones are "reworded"
                    yield dict(ex, seed=seed, split="train", paraphrased=False, reworded=reworded is not None)
            continue
        extra = cfg.lookup_budgets if q["type"] in LOOKUP_TYPES else ()
        for b in [*budgets, *extra]:
            ex = make_example(q, chunks, bm25, tok, b, rng)
            if ex:
                yield dict(ex, seed=seed, split="eval")
        reworded = paraphrase(str(q["question"]), str(q["type"]))
        for b in cfg.paraphrased_budgets if reworded else ():
            ex = make_example(q, chunks, bm25, tok, b, rng, question=reworded)
            if ex:
                yield dict(ex, seed=seed, split="eval")


def build(cfg: TuneDataConfig, tok: TokenizerLike, out_file: Path,
          progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Write every example of ``cfg`` to ``out_file`` (JSON lines, xz-compressed if it ends in ``.xz``)."""
    out_file.parent.mkdir(parents=True, exist_ok=True)
    opener = lzma.open if out_file.suffix == ".xz" else open
    n, by_type, recall = 0, dict[str, int](), list[float]()
    with tempfile.TemporaryDirectory() as tmp, opener(out_file, "wt", encoding="utf-8") as f:
        for i, seed in enumerate(cfg.seeds):
            for ex in corpus_examples(seed, cfg, tok, Path(tmp)):
                f.write(json.dumps(ex, ensure_ascii=False) + "\n")
                n += 1
                by_type[ex["type"]] = by_type.get(ex["type"], 0) + 1
                recall.append(ex["retrieval_recall"])
            if progress:
                progress(i + 1, len(cfg.seeds))
    return {"split": cfg.split, "examples": n, "by_type": by_type, "seeds": [min(cfg.seeds), max(cfg.seeds)],
            "tokens_per_corpus": cfg.tokens, "questions_per_type": cfg.questions_per_type,
            "budgets": {str(k): v for k, v in cfg.budgets.items()}, "negatives": cfg.negatives,
            "retrieval_recall_mean": round(sum(recall) / max(1, len(recall)), 3), "file": str(out_file)}


def read_examples(path: Path) -> list[dict[str, Any]]:
    opener = lzma.open if path.suffix == ".xz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
