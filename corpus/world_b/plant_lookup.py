"""Planted lookups: one record or a few records of one order, found by an id, a rare item, two keys or a paraphrase."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from corpus.world_b.life import Plan, give_back, outbound
from corpus.world_b.records import Line, Question, days_in, month_start, note, spoken_date
from corpus.world_b.vocab import AGENTS, CARRIER, CARRIERS_B, CATALOG, PARAPHRASES, SITE, SITES

Planted = tuple[list[Line], list[Question]]


def evidence_of(line: Line) -> str:
    """The part of a line a person would quote: a JSONL record's text, any other line whole."""
    return str(json.loads(line.text)["text"]) if line.stream == "rma" else line.text


def moment(plan: Plan, m: int, lo: int = 1, hi: int = 20) -> datetime:
    start = month_start(m)
    day = plan.rng.randint(lo, min(hi, days_in(m)))
    return datetime(start.year, start.month, day, plan.rng.randint(7, 21), plan.rng.randint(0, 59))


def single_needle(plan: Plan, m: int, n: int) -> Planted:
    cat = plan.rng.choice(("GD", "TX", "BK", "TO"))
    type_code, (noun, lo, hi) = plan.rng.choice(sorted(CATALOG[cat].items()))
    item = plan.planted_item(cat, type_code, noun, lo, hi)
    o = plan.new_order(moment(plan, m), [(item, 1)])
    lines, _, _ = outbound(plan.rng, o)
    site = SITE[o.site]
    return lines, [Question(f"b-single-{n}", "single_needle", f"A customer says they bought the {item.code}. "
                            f"Which order was that?",
                            f"Order {o.ref} ({item.noun}), placed {o.placed.date()} and shipped from {site.city} "
                            f"({site.code}).", [o.ref], [lines[0].text], m)]


def multi_key(plan: Plan, m: int, n: int) -> Planted:
    """An order found only by its site, carrier and day together (no other order in the history shares all three)."""
    rng = plan.rng
    while True:
        placed = moment(plan, m)
        site, carrier = rng.choice(SITES), rng.choice(CARRIERS_B)
        key = (site.code, carrier.code, placed.date())
        if key not in plan.reserved_keys and key not in plan.planted_keys:
            break
    o = plan.new_order(placed, [(rng.choice(plan.catalog), 1)], site.code, carrier.code)
    plan.reserved_keys.add(key)
    lines, _, _ = outbound(rng, o)
    q = (f"Which order was placed on {spoken_date(placed.date())} to ship from our {site.city} site with "
         f"{carrier.name}?")
    return lines, [Question(f"b-multikey-{n}", "multi_key", q,
                            f"Order {o.ref} ({o.items[0][0].code}, {o.items[0][0].noun}): {site.code}, {carrier.code}.",
                            [o.ref], [lines[0].text], m)]


def multi_value(plan: Plan, m: int, n: int) -> Planted:
    rng = plan.rng
    items = [(it, rng.randint(1, 2)) for it in rng.sample(plan.catalog, 3)]
    o = plan.new_order(moment(plan, m), items)
    lines, _, _ = outbound(rng, o)
    codes = [it.code for it, _ in items]
    answer = (f"Order {o.ref} held " + ", ".join(f"{k} x {it.code} ({it.noun})" for it, k in items)
              + f"; it shipped under tracking number {o.tracking} with {CARRIER[o.carrier].name}.")
    return lines, [Question(f"b-multivalue-{n}", "multi_value",
                            f"What was on order {o.ref}, and which tracking number did it ship under?", answer,
                            [*codes, o.tracking], [ln.text for ln in lines[:3]], m)]


def temporal(plan: Plan, m: int, n: int) -> Planted:
    """An order whose first delivery attempt failed: the question asks when it finally arrived."""
    o = plan.new_order(moment(plan, m, 1, 16), [(plan.rng.choice(plan.catalog), 1)])
    lines, delivered, key = outbound(plan.rng, o, attempt_failed=True)
    attempt = key["D22"].ts.date()
    return lines, [Question(f"b-temporal-{n}", "temporal",
                            f"Order {o.ref} had a failed delivery attempt. On what date did it finally reach the "
                            f"customer?",
                            f"It was delivered on {delivered.date()}, after the failed attempt on {attempt} "
                            f"(D22, consignee not available).",
                            [str(delivered.date())], [lines[0].text, key["D22"].text, key["DELIVERED"].text], m)]


def paraphrase(plan: Plan, m: int, n: int) -> Planted:
    """A case note in the agent's words; the question describes the same thing in the customer's words."""
    cat, type_code, noun, said, defect, defect_said = PARAPHRASES[n % len(PARAPHRASES)]
    rng = plan.rng
    item = plan.planted_item(cat, type_code, noun, 60, 480)
    o = plan.new_order(moment(plan, m, 1, 14), [(item, 1)])
    lines, delivered, _ = outbound(rng, o)
    trail = give_back(rng, plan.ids, o, delivered + timedelta(days=1, hours=rng.randint(1, 5)), "damaged on arrival")
    body = f"buyer on order {o.ref} says the {noun} arrived with {defect}; opened {trail.rma} for a return."
    day = trail.rma_line.ts + timedelta(days=1)
    memo = note(datetime(day.year, day.month, day.day, rng.randint(8, 17), rng.randint(0, 59)), rng.choice(AGENTS),
                body)
    lines += [*trail.lines, memo]
    return lines, [Question(f"b-paraphrase-{n}", "paraphrase",
                            f"A customer's {said} showed up with {defect_said}. Which order was that, and which RMA "
                            f"did we open for it?",
                            f"Order {o.ref} ({item.code}, {noun}): the note says it arrived with {defect}; the return "
                            f"is {trail.rma}.", [o.ref, trail.rma], [memo.text], m)]
