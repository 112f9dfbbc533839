"""The simulated business: catalog, customers, order ids, and how orders and their events are rendered.

Everything is drawn from a ``random.Random`` handed in by the caller, so a seed fixes the whole history.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from corpus.domain import CARRIERS, EXCEPTION_CODES, FULFILLMENT_CENTERS, SKU_CATEGORIES, exception_by_code

START_YEAR = 2016
N_MONTHS = 120  # ten years: 2016-01 .. 2025-12

PRODUCTS: dict[str, tuple[str, ...]] = {
    "EL": ("gaming laptop", "4K monitor", "wireless earbuds", "smartwatch", "tablet", "camera drone",
           "mirrorless camera", "noise-cancelling headphones", "e-reader", "portable projector"),
    "AP": ("rain jacket", "running shoes", "wool sweater", "denim jeans", "silk scarf"),
    "HG": ("espresso machine", "cordless drill", "air purifier", "robot vacuum", "garden hose reel"),
    "TY": ("building block set", "remote-control car", "plush bear", "board game"),
    "BK": ("hardcover atlas", "cookbook", "travel guide", "graphic novel"),
    "SP": ("road bike helmet", "yoga mat", "carbon tennis racket", "camping stove"),
    "BE": ("hair dryer", "skincare set", "electric toothbrush"),
}
ROUTINE_CODES = tuple(e.code for e in EXCEPTION_CODES if e.routine)
CUSTOMER_NAMES = ("A. Okafor", "B. Lindqvist", "C. Moreau", "D. Tanaka", "E. Novak", "F. Haddad", "G. Rossi",
                  "H. Schmidt", "I. Kowalski", "J. Alvarez", "K. Brennan", "L. Nakamura", "M. Dubois", "N. Patel")


def month_start(m: int) -> date:
    """First day of month index ``m`` (0 = January 2016)."""
    return date(START_YEAR + m // 12, m % 12 + 1, 1)


def month_of(d: date | datetime) -> int:
    return (d.year - START_YEAR) * 12 + d.month - 1


def days_in_month(m: int) -> int:
    return (month_start(m + 1) - month_start(m)).days


def iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def money(x: float) -> str:
    return f"${x:,.2f}"


@dataclass(frozen=True)
class Sku:
    code: str
    category: str
    product: str
    value: float


def build_catalog(rng: random.Random, size: int = 240) -> list[Sku]:
    """SKUs reused across many orders (the same SKU shows up everywhere, on purpose)."""
    catalog: list[Sku] = []
    used: set[str] = set()
    cats = list(SKU_CATEGORIES)
    while len(catalog) < size:
        cat = rng.choice(cats)
        code = f"SKU-{cat}-{rng.randint(10000, 89999)}"
        if code in used:
            continue
        used.add(code)
        lo, hi = SKU_CATEGORIES[cat][1]
        catalog.append(Sku(code, cat, rng.choice(PRODUCTS[cat]), round(rng.uniform(lo, hi), 2)))
    return catalog


class IdAllocator:
    """Unique order ids; planted ids are reserved first, filler may sit one digit away from them."""

    def __init__(self, rng: random.Random, digits: int) -> None:
        self.rng = rng
        self.lo, self.hi = 10 ** (digits - 1), 10**digits - 1
        self.used: set[int] = set()
        self.near: list[int] = []  # planted ids whose near-duplicates filler should use

    def reserve(self, n: int) -> str:
        if n in self.used:
            raise ValueError(f"order id #{n} is already taken")
        self.used.add(n)
        return f"#{n}"

    def fresh(self) -> str:
        if self.near and self.rng.random() < 0.05:
            base = str(self.rng.choice(self.near))
            i = self.rng.randrange(len(base) - 1)
            cand = int(base[:i] + base[i + 1] + base[i] + base[i + 2 :])  # transpose two digits: #48291 -> #48219
            if cand not in self.used and cand >= 10000:
                return self.reserve(cand)
        while True:
            n = self.rng.randint(self.lo, self.hi)
            if n not in self.used:
                return self.reserve(n)


@dataclass
class Order:
    id: str
    placed: date
    customer: str
    fc: str
    carrier: str
    tracking: str
    items: list[tuple[Sku, int]]
    ship: date

    @property
    def value(self) -> float:
        return sum(s.value * q for s, q in self.items)


@dataclass
class Emitted:
    """What one order (or one planted fact) adds to the history, by kind; each entry carries its timestamp."""

    manifest: list[tuple[datetime, str]] = field(default_factory=list)
    scans: list[tuple[datetime, str]] = field(default_factory=list)
    notes: list[tuple[datetime, str, str]] = field(default_factory=list)  # (ts, fc, paragraph)
    refunds: list[tuple[datetime, str]] = field(default_factory=list)  # (ts, json line)

    def extend(self, other: Emitted) -> None:
        self.manifest += other.manifest
        self.scans += other.scans
        self.notes += other.notes
        self.refunds += other.refunds


def tracking_for(rng: random.Random, carrier: str) -> str:
    return f"{carrier}{rng.randint(10**9, 10**10 - 1)}"


def manifest_rows(o: Order) -> list[tuple[datetime, str]]:
    ts = datetime(o.placed.year, o.placed.month, o.placed.day)
    return [(ts, f"{o.id},{o.placed},{o.customer},{o.fc},{o.carrier},{o.tracking},{s.code},"
                 f"{SKU_CATEGORIES[s.category][0]},{q},{s.value * q:.2f},{o.ship}") for s, q in o.items]


def scan_line(ts: datetime, carrier: str, tracking: str, order_id: str, loc: str, event: str,
              code: str | None = None) -> tuple[datetime, str]:
    line = f"{iso(ts)} {carrier} {tracking} {order_id} {loc} {event}"
    if code:
        e = exception_by_code(code)
        line += f" {e.code} {e.name} {e.description}"
    return ts, line


def refund_record(rid: str, kind: str, ts: datetime, text: str, **meta: object) -> tuple[datetime, str]:
    rec = {"id": rid, "type": kind, "timestamp": iso(ts), "text": text, "metadata": meta}
    return ts, json.dumps(rec, sort_keys=False)


def at(d: date, rng: random.Random) -> datetime:
    return datetime(d.year, d.month, d.day, rng.randint(6, 21), rng.randint(0, 59), rng.randint(0, 59))


def random_order(rng: random.Random, ids: IdAllocator, catalog: list[Sku], m: int) -> Order:
    placed = month_start(m) + timedelta(days=rng.randrange(days_in_month(m)))
    weights = [1.0 / (i + 1) ** 0.8 for i in range(len(catalog))]  # Zipf-ish: some SKUs in many orders
    items = [(s, rng.choice((1, 1, 1, 2))) for s in rng.choices(catalog, weights, k=rng.choice((1, 1, 1, 2, 3)))]
    carrier = rng.choice(CARRIERS).code
    return Order(ids.fresh(), placed, f"C-{rng.randint(10000, 99999)}", rng.choice(FULFILLMENT_CENTERS).code,
                 carrier, tracking_for(rng, carrier), items, placed + timedelta(days=rng.randint(0, 2)))


def filler_order_events(rng: random.Random, o: Order, refund_seq: list[int]) -> Emitted:
    """A routine order's life: manifest rows, scans (sometimes a routine exception), maybe a return and refund."""
    out = Emitted(manifest=manifest_rows(o))
    t = at(o.ship, rng)
    hub = f"HUB-{o.fc[:3]}"
    out.scans.append(scan_line(t, o.carrier, o.tracking, o.id, o.fc, "PICKED_UP"))
    t += timedelta(hours=rng.randint(2, 20))
    out.scans.append(scan_line(t, o.carrier, o.tracking, o.id, o.fc, "DEPARTED"))
    t += timedelta(hours=rng.randint(10, 40))
    out.scans.append(scan_line(t, o.carrier, o.tracking, o.id, hub, "ARRIVED_HUB"))
    if rng.random() < 0.3:
        t += timedelta(hours=rng.randint(3, 30))
        out.scans.append(scan_line(t, o.carrier, o.tracking, o.id, hub, "EXCEPTION", rng.choice(ROUTINE_CODES)))
    t += timedelta(hours=rng.randint(12, 48))
    out.scans.append(scan_line(t, o.carrier, o.tracking, o.id, hub, "OUT_FOR_DELIVERY"))
    t += timedelta(hours=rng.randint(2, 10))
    out.scans.append(scan_line(t, o.carrier, o.tracking, o.id, "DEST", "DELIVERED"))
    if rng.random() < 0.1:
        out.extend(filler_return(rng, o, t, refund_seq))
    return out


RETURN_REASONS = ("changed mind", "wrong size", "arrived late", "item not as described", "defective on arrival",
                  "duplicate order", "better price elsewhere")


def filler_return(rng: random.Random, o: Order, delivered: datetime, refund_seq: list[int]) -> Emitted:
    out = Emitted()
    sku, qty = o.items[0]
    reason = rng.choice(RETURN_REASONS)
    t = delivered + timedelta(days=rng.randint(3, 20), hours=rng.randint(1, 8))
    refund_seq[0] += 1
    rid = f"RT-{t.year}-{refund_seq[0]:05d}"
    out.refunds.append(refund_record(rid, "return", t, f"Return authorized for order {o.id} ({sku.code}, "
                                     f"{sku.product}); reason: {reason}.", order_id=o.id, sku=sku.code,
                                     reason=reason, status="authorized"))
    rtrk = tracking_for(rng, o.carrier)
    t += timedelta(days=rng.randint(1, 4))
    out.scans.append(scan_line(t, o.carrier, rtrk, o.id, "ORIGIN", "PICKED_UP"))
    if rng.random() < 0.2:
        t += timedelta(hours=rng.randint(5, 40))
        out.scans.append(scan_line(t, o.carrier, rtrk, o.id, f"HUB-{o.fc[:3]}", "EXCEPTION", rng.choice(ROUTINE_CODES)))
    t += timedelta(days=rng.randint(2, 6))
    out.scans.append(scan_line(t, o.carrier, rtrk, o.id, o.fc, "RETURN_RECEIVED"))
    t += timedelta(days=rng.randint(1, 5), hours=rng.randint(1, 8))
    refund_seq[0] += 1
    amount = sku.value * qty
    out.refunds.append(refund_record(
        f"RF-{t.year}-{refund_seq[0]:05d}", "refund", t,
        f"Refund of {money(amount)} for order {o.id} issued on {t.date()} after inspection at {o.fc}; "
        f"processed within the policy window.", order_id=o.id, amount_usd=round(amount, 2), status="issued"))
    return out
