"""Plan world b's planted facts: which months they fall in, in which order the planters run, their lines by month."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable

from corpus.world_b.life import Plan, build_catalog
from corpus.world_b.plant_canonical import canonical
from corpus.world_b.plant_chains import aggregation, cause, cross_order, policy_version
from corpus.world_b.plant_lookup import Planted, multi_key, multi_value, paraphrase, single_needle, temporal
from corpus.world_b.records import IdBook, Line, Question, month_of
from corpus.world_b.vocab import N_MONTHS, PARAPHRASES

Planter = Callable[[Plan, int, int], Planted]

# multi_key and aggregation run first (after the canonical order, which closes its own scope): they reserve keys
# and exception scopes that every later planted order, and all filler, must then stay out of
PLANTERS: dict[str, Planter] = {
    "multi_key": multi_key, "aggregation": aggregation, "single_needle": single_needle, "multi_value": multi_value,
    "temporal": temporal, "cause": cause, "cross_order": cross_order, "policy_version": policy_version,
    "paraphrase": paraphrase,
}
MAX_PER_TYPE = {"paraphrase": len(PARAPHRASES)}  # each paraphrase needs a product no other record names
MAX_AGGREGATIONS_IN_ONE_MONTH = 8  # of 15 (code, carrier) scopes: the rest stay open for cross_order and cause


def new_plan(seed: int, depth: float | None) -> Plan:
    plan = Plan(random.Random(f"b:{seed}:plan"), IdBook(), build_catalog(random.Random(f"b:{seed}:catalog")))
    if depth is not None:
        plan.depth_month = min(N_MONTHS - 3, max(1, round(depth * (N_MONTHS - 1))))
    return plan


def months_for(plan: Plan, kind: str, n: int) -> list[int]:
    """``n`` months for one question type: all at the depth month, or spread over the history with jitter."""
    if plan.depth_month is not None:
        return [plan.depth_month] * n
    span = N_MONTHS - 4
    return [min(N_MONTHS - 3, max(1, 1 + int((i + 0.5) * span / n) + plan.rng.randint(-2, 2))) for i in range(n)]


def plant(plan: Plan, per_type: int) -> tuple[dict[int, list[Line]], list[Question]]:
    """Every planted line bucketed by its month, and the questions in a stable order (canonical first)."""
    lines, questions = canonical(plan)
    for kind, planter in PLANTERS.items():
        n = min(per_type, MAX_PER_TYPE.get(kind, per_type))
        if kind == "aggregation" and plan.depth_month is not None:
            n = min(n, MAX_AGGREGATIONS_IN_ONE_MONTH)
        for i, m in enumerate(months_for(plan, kind, n)):
            more, qs = planter(plan, m, i)
            lines += more
            questions += qs
    buckets: dict[int, list[Line]] = defaultdict(list)
    for line in lines:
        m = month_of(line.ts.date())
        assert 0 <= m < N_MONTHS, f"planted line outside the history: {line}"
        buckets[m].append(line)
    order = {k: i for i, k in enumerate(["cause", *PLANTERS])}
    questions.sort(key=lambda q: (q.id != "b-canonical", order[q.type]))  # stable: planting order within a type
    return buckets, questions
