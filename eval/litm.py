"""Lost-in-the-middle sweep: move the gold record through the retrieval ranking and measure accuracy per position
for each packing order (Liu et al. 2023, *Lost in the Middle: How Language Models Use Long Contexts*).

For position k of ``positions``, the gold record gets retrieval rank ~ 1 + k (n - 1) / (positions - 1) among the
item's n records; every variant packs the same ranked list under the same budget and the model is asked once.
``ask`` receives the full chat-templated prompt; the CLI passes the engine (``longhaul eval litm``).
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
# "ours_placement" is the ablation of "ours" without promoting records that name the question's identifiers.
VARIANTS: dict[str, dict[str, Any]] = {
    "retrieval": {"order": "retrieval"},
    "reorder": {"order": "reorder"},
    "ours": {"order": "ours"},
    "ours_placement": {"order": "ours", "promote": False},
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
    orders: Sequence[str] = ("retrieval", "reorder", "ours"),
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Accuracy per gold position per order.

    Returns a dict with ``positions`` (1..positions), ``accuracy``, ``gold_in_context`` and ``gold_slot`` (mean
    relative place of the gold in the prompt, 0 = first record, 1 = last) per order, and
    ``litm_worst_over_best_<order>`` (plus the issue's aliases ``..._retrieval_order`` and ``..._langchain``).
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
    total, done = len(orders) * positions * len(its), 0
    result: dict[str, Any] = {
        "positions": list(range(1, positions + 1)),
        "n_items": len(its),
        "budget": budget,
        "orders": list(orders),
        "accuracy": {},
        "gold_in_context": {},
        "gold_slot": {},
    }
    for order in orders:
        acc, inside, slot = [], [], []
        for k in range(positions):
            right = present = 0
            slots: list[float] = []
            for it in its:
                ev = ranked_evidence(it, gold_rank(k, positions, len(it.distractors) + 1))
                packed = pack(it.question, ev, tokenizer, budget, **VARIANTS[order])
                where = [p.position for p in packed.evidence if p.id == "gold"]
                if where:
                    present += 1
                    slots.append(where[0] / max(len(packed.evidence) - 1, 1))
                right += is_correct(ask(packed.prompt), it.answers)
                done += 1
                if progress:
                    progress(done, total)
            acc.append(right / len(its))
            inside.append(present / len(its))
            slot.append(sum(slots) / len(slots) if slots else float("nan"))
        result["accuracy"][order] = acc
        result["gold_in_context"][order] = inside
        result["gold_slot"][order] = slot
        result[f"litm_worst_over_best_{order}"] = worst_over_best(acc)
        if order in ALIASES:
            result[f"litm_worst_over_best_{ALIASES[order]}"] = worst_over_best(acc)
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
    ax.set_xlabel("gold position in the retrieval ranking (1 = best, 10 = worst)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"Lost in the middle: {result['n_items']} items, budget {result['budget']} tokens")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
