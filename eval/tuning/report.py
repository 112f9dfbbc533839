"""Turn a tuning job's ``results.json`` into the domain eval's numbers, the results file and the adapter manifest.

``usable_context_tokens`` is the largest packed budget at which lookup accuracy (single-needle and multi-key,
pooled) is still >= 50%, every smaller measured budget included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eval.tuning.data import LOOKUP_TYPES

Table = Mapping[str, Mapping[str, Mapping[str, float]]]  # {budget: {type: {"acc", "n"}}}


def lookup_accuracy(table: Table, budget: str) -> float | None:
    cells = [table.get(budget, {}).get(t) for t in LOOKUP_TYPES]
    got = [c for c in cells if c and c.get("n")]
    if not got:
        return None
    n = sum(c["n"] for c in got)
    return round(sum(c["acc"] * c["n"] for c in got) / n, 3)


def usable_context(table: Table, threshold: float = 0.5) -> int:
    """Largest budget with pooled lookup accuracy >= ``threshold`` at it and every smaller budget (0: none)."""
    best = 0
    for b in sorted(table, key=int):
        acc = lookup_accuracy(table, b)
        if acc is None:
            continue
        if acc < threshold:
            break
        best = int(b)
    return best


def by_type(results: Mapping[str, Any], budget: int) -> dict[str, dict[str, float | None]]:
    """{type: {"base": x, "tuned": y}} at ``budget`` (None where a model was not measured)."""
    b = str(budget)
    base, tuned = results.get("base", {}).get(b, {}), results.get("tuned", {}).get(b, {})
    types = sorted(set(base) | set(tuned))
    return {t: {"base": base[t]["acc"] if t in base else None, "tuned": tuned[t]["acc"] if t in tuned else None}
            for t in types}


def summary(results: Mapping[str, Any]) -> dict[str, Any]:
    """The `longhaul eval domain --json` object from a tuning job's results."""
    tuned, base = results.get("tuned", {}), results.get("base", {})
    budgets = sorted(set(tuned) | set(base), key=int)
    return {
        "accuracy_by_type_4k": by_type(results, 4096),
        "accuracy_by_type": {b: by_type(results, int(b)) for b in budgets},
        "lookup_accuracy": {b: {"base": lookup_accuracy(base, b), "tuned": lookup_accuracy(tuned, b)}
                            for b in budgets},
        "usable_context_tokens": usable_context(tuned),
        "usable_context_tokens_base": usable_context(base),
        "n_per_cell": {"tuned": _n(tuned), "base": _n(base)},
    }


def _n(table: Table) -> int:
    ns = [int(c["n"]) for d in table.values() for c in d.values()]
    return max(ns, default=0)


BARS = {"single_needle": 0.8, "multi_key": 0.8, "temporal": 0.8, "cause": 0.6, "cross_order": 0.6}


def bars(s: Mapping[str, Any]) -> dict[str, Any]:
    """Each bar of the issue against the tuned numbers: {name: {"bar", "got", "met"}}."""
    out: dict[str, Any] = {}
    for t, bar in BARS.items():
        got = s["accuracy_by_type_4k"].get(t, {}).get("tuned")
        out[f"{t}@4k"] = {"bar": bar, "got": got, "met": got is not None and got >= bar}
    out["usable_context_tokens"] = {"bar": 16384, "got": s["usable_context_tokens"],
                                    "met": s["usable_context_tokens"] >= 16384}
    return out
