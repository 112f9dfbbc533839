"""Lost-in-the-middle sweep: move the gold record through the retrieval ranking and measure accuracy per rank
for each packing order (Liu et al. 2023, *Lost in the Middle: How Language Models Use Long Contexts*).

What varies is the gold's retrieval *rank*: for sweep point k of ``positions`` it is ~ 1 + k (n - 1) /
(positions - 1) among the item's n records. Every variant packs the same ranked list under the same budget and
places the records by its own rule, so the gold's place in the prompt is the order's doing: rank = place for
``retrieval``; LangChain's zig-zag for ``reorder``; rank 1 first, rank 2 last, ... for ``ours``. ``ours`` also
promotes records naming the question's identifiers to the front, which moves the gold regardless of its rank;
``ours_placement_only`` switches that off. Use a budget that holds all n records (``records_in_context`` = 1), or
the sweep measures truncation, not position. ``ask`` receives the full chat-templated prompt; identical prompts
are asked once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packing import Evidence, pack
from packing.packer import TokenizerLike

# Variant name -> pack options. The baselines reproduce a plain RAG prompt (question once, after the evidence);
# "ours_placement_only" is "ours" without promoting records that name the question's identifiers (it keeps the
# question restated before and after the evidence, as "ours" does).
VARIANTS: dict[str, dict[str, Any]] = {
    "retrieval": {"order": "retrieval"},
    "reorder": {"order": "reorder"},
    "ours": {"order": "ours"},
    "ours_placement_only": {"order": "ours", "promote": False},
}
# The names the JSON contract uses for the baselines, reported as well.
ALIASES = {"retrieval": "retrieval_order", "reorder": "langchain"}


@dataclass(frozen=True)
class LitmItem:
    """A lookup: the ``question``, the ``gold`` record that answers it, ``distractors`` (best first) and the
    accepted ``answers`` (case-insensitive substrings)."""

    question: str
    gold: str
    distractors: tuple[str, ...]
    answers: tuple[str, ...]


def _item(x: LitmItem | Mapping[str, Any]) -> LitmItem:
    if isinstance(x, LitmItem):
        return x
    return LitmItem(str(x["question"]), str(x["gold"]), tuple(x["distractors"]), tuple(x["answers"]))


def gold_rank(k: int, positions: int, n_records: int) -> int:
    """The retrieval rank (1-based) of the gold record at sweep position ``k`` (0-based)."""
    if positions == 1:
        return 1
    return 1 + round(k * (n_records - 1) / (positions - 1))


def ranked_evidence(item: LitmItem, rank: int) -> list[Evidence]:
    """The item's records as retrieval results, the gold at ``rank``."""
    texts = list(item.distractors)
    texts.insert(rank - 1, item.gold)
    ids = [f"d{i}" for i in range(len(item.distractors))]
    ids.insert(rank - 1, "gold")
    return [Evidence(ids[i], "litm", t, 1.0 / (i + 1), i + 1) for i, t in enumerate(texts)]


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s.lower()).strip()


def is_correct(answer: str, accepted: Iterable[str]) -> bool:
    a = _norm(answer)
    return any(_norm(x) in a for x in accepted if x.strip())


def worst_over_best(acc: Sequence[float]) -> float:
    best = max(acc, default=0.0)
    return min(acc) / best if best > 0 else 0.0


def litm_sweep(
    items: Sequence[LitmItem | Mapping[str, Any]],
    tokenizer: TokenizerLike,
    budget: int,
    ask: Callable[[str], str],
    positions: int = 10,
    orders: Sequence[str] = ("retrieval", "reorder", "ours", "ours_placement_only"),
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Accuracy per gold retrieval rank per order.

    Returns
    -------
    dict
        ``positions`` (1..positions), ``gold_rank`` (mean retrieval rank of the gold per sweep point),
        ``accuracy``, ``gold_in_context``, ``gold_slot`` (mean place of the gold in the prompt, 1 = first record;
        None where never packed) and ``records_in_context`` (mean fraction of the item's records packed) per
        order; ``litm_worst_over_best_<order>`` (plus the issue's aliases ``..._retrieval_order`` and
        ``..._langchain``); ``asks`` (distinct prompts sent to ``ask``).
    """
    unknown = [o for o in orders if o not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown orders {unknown}; choose from {sorted(VARIANTS)}")
    its = [_item(x) for x in items]
    if not its:
        raise ValueError("no items: pass at least one LitmItem")
    short = [i for i, it in enumerate(its) if len(it.distractors) + 1 < positions]
    if short:
        raise ValueError(
            f"items {short[:5]} have fewer than positions - 1 = {positions - 1} distractors; "
            "add distractors or lower positions"
        )
    shape = (len(orders), positions, len(its))
    right, slot, kept = (
        {(o, k, i): 0.0 for o in orders for k in range(positions) for i in range(len(its))} for _ in range(3)
    )
    answers: dict[str, str] = {}
    total, done = shape[0] * shape[1] * shape[2], 0
    # Item-major, ranks from the bottom up: consecutive prompts share long prefixes (the engine's prefix cache).
    for i, it in enumerate(its):
        n_rec = len(it.distractors) + 1
        for order in orders:
            for k in reversed(range(positions)):
                ev = ranked_evidence(it, gold_rank(k, positions, n_rec))
                packed = pack(it.question, ev, tokenizer, budget, **VARIANTS[order])
                where = [p.position for p in packed.evidence if p.id == "gold"]
                slot[order, k, i] = float(where[0] + 1) if where else float("nan")
                kept[order, k, i] = len(packed.evidence) / n_rec
                if packed.prompt not in answers:
                    answers[packed.prompt] = ask(packed.prompt)
                right[order, k, i] = float(is_correct(answers[packed.prompt], it.answers))
                done += 1
                if progress:
                    progress(done, total)

    def mean(xs: Sequence[float]) -> float | None:
        xs = [x for x in xs if x == x]  # NaN = gold not packed
        return sum(xs) / len(xs) if xs else None

    def per_rank(table: Mapping[tuple[str, int, int], float], order: str) -> list[float | None]:
        return [mean([table[order, k, i] for i in range(len(its))]) for k in range(positions)]

    result: dict[str, Any] = {
        "positions": list(range(1, positions + 1)),
        "gold_rank": [mean([gold_rank(k, positions, len(it.distractors) + 1) for it in its]) for k in
                      range(positions)],
        "n_items": len(its),
        "budget": budget,
        "orders": list(orders),
        "asks": len(answers),
        "accuracy": {o: per_rank(right, o) for o in orders},
        "gold_in_context": {o: [mean([float(slot[o, k, i] == slot[o, k, i]) for i in range(len(its))])
                                for k in range(positions)] for o in orders},
        "gold_slot": {o: per_rank(slot, o) for o in orders},
        "records_in_context": {o: per_rank(kept, o) for o in orders},
    }
    for order in orders:
        ratio = worst_over_best(result["accuracy"][order])
        result[f"litm_worst_over_best_{order}"] = ratio
        if order in ALIASES:
            result[f"litm_worst_over_best_{ALIASES[order]}"] = ratio
    return result


def plot_litm(result: Mapping[str, Any], path_png: str | Path) -> Path | None:
    """Accuracy against gold position, one line per order; ``None`` when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    path = Path(path_png)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    for order, acc in result["accuracy"].items():
        ax.plot(result["positions"], acc, marker="o", label=f"{order} (worst/best {worst_over_best(acc):.2f})")
    ax.set_xlabel("gold retrieval rank (1 = best); each order places it by its own rule")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"Lost in the middle: {result['n_items']} items, budget {result['budget']} tokens")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
