"""Warehouse notes: routine shift notes in varied human phrasing, mentioning orders, SKUs and carriers."""

from __future__ import annotations

import random
from datetime import datetime

from corpus.domain import CARRIERS, exception_by_code
from corpus.world import ROUTINE_CODES, Order

SHIFTS = ("day", "night", "early", "late")

OPENERS = (
    "Quiet shift overall.", "Busy one today.", "Short-staffed again, two pickers out sick.",
    "Dock 3 door sticking, maintenance ticket raised.", "Inbound trailer arrived 40 min late.",
    "Cycle count on aisle {aisle} done, no variances.", "Peak prep: extra packing stations set up.",
)
ORDER_LINES = (
    "Order {order} ({sku}, {product}) repacked after the outer carton tore on the conveyor.",
    "{carrier} driver collected the afternoon wave late; order {order} made it on the truck anyway.",
    "Customer called about {order}; tracking showed {code} ({desc}), told them to expect a day's delay.",
    "Relabelled {order} because the {carrier} label would not scan at the gate.",
    "{product} for order {order} pulled from bin {aisle}-{bin}; last unit, reorder flagged for {sku}.",
    "Return for {order} inspected: {product} in resalable condition, restocked to {aisle}-{bin}.",
    "Pallet with {order} and a few others staged for {carrier} linehaul.",
    "{carrier} reported {code} on several parcels from this site today, {order} among them; nothing unusual.",
    "Gift wrap requested on {order} ({product}); done by the packing lead.",
)
CLOSERS = ("Handover done.", "Nothing else to flag.", "Floor clean at end of shift.", "Next shift: check dock 3.",
           "All waves closed on time.", "", "")


def filler_note(rng: random.Random, ts: datetime, fc: str, orders: list[Order]) -> tuple[datetime, str, str]:
    """One section of a shift note as ``(timestamp, fc, paragraph)``."""
    parts = [rng.choice(OPENERS).format(aisle=rng.randint(1, 40))]
    for o in rng.sample(orders, min(len(orders), rng.randint(1, 3))):
        sku = o.items[0][0]
        code = rng.choice(ROUTINE_CODES)
        carrier = next(c.name for c in CARRIERS if c.code == o.carrier)
        parts.append(rng.choice(ORDER_LINES).format(
            order=o.id, sku=sku.code, product=sku.product, carrier=carrier, code=code,
            desc=exception_by_code(code).description, aisle=rng.randint(1, 40), bin=rng.randint(1, 99)))
    closer = rng.choice(CLOSERS)
    if closer:
        parts.append(closer)
    return ts, fc, " ".join(parts)


def note_section_heading(ts: datetime, rng: random.Random) -> str:
    return f"## {ts.date()} (shift: {rng.choice(SHIFTS)})"
