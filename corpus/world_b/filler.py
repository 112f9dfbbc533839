"""World b's everyday history around the planted facts: orders, their scans, some returns and case notes."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from corpus.world_b.life import Plan, give_back, outbound
from corpus.world_b.records import Line, Order, days_in, month_start, note
from corpus.world_b.vocab import (
    AGENTS,
    CARRIER,
    CARRIERS_B,
    HANDBOOK,
    OUTBOUND_FILLER_CODES,
    RETURN_FILLER_CODES,
    SITE,
    SITES,
    in_force,
)

RETURN_REASONS = ("changed my mind", "wrong size", "arrived too late", "not as described", "ordered twice",
                  "found it cheaper", "damaged on arrival", "stopped working after a week")
P_EXCEPTION, P_RETURN, P_NOTE = 0.07, 0.08, 0.2


def random_order(rng: random.Random, plan: Plan, m: int) -> Order:
    """A filler order placed in month ``m``; never on a (site, carrier, day) reserved for a planted question."""
    start = month_start(m)
    placed = datetime(start.year, start.month, rng.randint(1, days_in(m)), rng.randint(6, 22), rng.randint(0, 59))
    site = rng.choice(SITES).code
    carrier = rng.choice(CARRIERS_B).code
    while (site, carrier, placed.date()) in plan.reserved_keys:
        carrier = rng.choice(CARRIERS_B).code
    k = rng.choices((1, 2, 3), weights=(70, 22, 8))[0]
    items = [(it, rng.choices((1, 2, 3), weights=(85, 12, 3))[0]) for it in rng.sample(plan.catalog, k)]
    return Order(plan.ids.order_ref(rng, placed.date()), placed, f"acct{rng.randint(10000, 89999)}", site, carrier,
                 plan.ids.tracking(rng, carrier), items)


def order_events(rng: random.Random, plan: Plan, o: Order) -> list[Line]:
    """Everything a filler order leaves behind; exceptions only where no planted scope is reserved."""
    exceptions = (rng.choice(OUTBOUND_FILLER_CODES),) if rng.random() < P_EXCEPTION else ()
    failed = exceptions == ("D22",)
    lines, delivered, _ = outbound(rng, o, () if failed else exceptions, plan.allow, attempt_failed=failed)
    trail = None
    if rng.random() < P_RETURN:
        window = in_force(HANDBOOK, delivered.date()).values["window"]
        opened = delivered + timedelta(days=rng.randint(1, min(window - 2, 20)), hours=rng.randint(1, 9))
        code = rng.choices(RETURN_FILLER_CODES, weights=(40, 45, 15))[0] if rng.random() < 0.15 else None
        trail = give_back(rng, plan.ids, o, opened, rng.choice(RETURN_REASONS), code, plan.allow)
        lines += trail.lines
    if rng.random() < P_NOTE:
        day = o.placed + timedelta(days=rng.randint(1, 4))
        when = datetime(day.year, day.month, day.day, rng.randint(8, 17), rng.randint(0, 59))  # office hours
        lines.append(note(when, rng.choice(AGENTS), filler_note_body(rng, o, trail.rma if trail else None)))
    return lines


def filler_note_body(rng: random.Random, o: Order, rma: str | None) -> str:
    carrier, site = CARRIER[o.carrier].name, SITE[o.site]
    noun = o.items[0][0].noun
    where = rng.choice((site.city, site.code))
    templates = [
        f"buyer {o.buyer} asked where order {o.ref} is; {carrier} shows it on its way from {where}.",
        f"order {o.ref}: customer wants a different address; told them {carrier} cannot reroute once a parcel "
        f"has left {site.code}.",
        f"{site.city} reports a late trailer today, the {carrier} collection moved to the evening; order {o.ref} "
        f"went out with it.",
        f"buyer on order {o.ref} asked for an invoice copy for the {noun}; sent it from the billing tool.",
        f"order {o.ref} ({noun}): buyer happy after the {carrier} driver left it with a neighbour.",
        f"{o.buyer} asked whether the {noun} on order {o.ref} has a warranty; pointed them to the maker's page.",
    ]
    if rma:
        templates.append(f"{rma} for order {o.ref}: customer is sending the {noun} back with {carrier}; the refund "
                         f"goes out once {site.city} books it in.")
    return rng.choice(templates)
