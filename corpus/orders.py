"""What a planter builds with: the planted question with its ground truth, the planting context, and a planted
order's outbound and return life (manifest rows, carrier scans, return and refund records)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from corpus.world import (
    Emitted,
    IdAllocator,
    Order,
    Sku,
    at,
    days_in_month,
    manifest_rows,
    money,
    month_start,
    refund_record,
    scan_line,
    tracking_for,
)


@dataclass
class Question:
    id: str
    type: str
    question: str
    answer: str
    accept: list[str]
    evidence: list[str]
    month: int
    match: str = "all"  # "all": every accept string must appear in a right answer; "any": one is enough

    def record(self, n_months: int) -> dict[str, object]:
        return {"id": self.id, "type": self.type, "question": self.question, "answer": self.answer,
                "accept": self.accept, "match": self.match, "evidence": self.evidence,
                "depth": round(self.month / max(1, n_months - 1), 3), "month": str(month_start(self.month))[:7]}


@dataclass
class Ctx:
    rng: random.Random
    ids: IdAllocator
    catalog: list[Sku]
    refund_seq: list[int]
    used: set[tuple[str, ...]] = field(default_factory=set)  # (kind, key...) combos already taken

    def day_in(self, m: int, lo: int = 0, hi: int = 14) -> date:
        return month_start(m) + timedelta(days=self.rng.randint(lo, min(hi, days_in_month(m) - 1)))

    def rare_sku(self, cat: str) -> Sku:
        from corpus.world import PRODUCTS, SKU_CATEGORIES
        lo, hi = SKU_CATEGORIES[cat][1]
        return Sku(f"SKU-{cat}-{self.rng.randint(90000, 99999)}", cat, self.rng.choice(PRODUCTS[cat]),
                   round(self.rng.uniform(lo, hi), 2))

    def pick(self, kind: str, options: list[str], *key: str) -> str:
        free = [o for o in options if (kind, o, *key) not in self.used] or options
        choice = self.rng.choice(free)
        self.used.add((kind, choice, *key))
        return choice


def shipped(ctx: Ctx, oid: str | None, placed: date, fc: str, carrier: str, items: list[tuple[Sku, int]],
            out: Emitted, exceptions: tuple[str, ...] = ()) -> tuple[Order, datetime]:
    """A planted order's outbound life (manifest + scans, optional exceptions); returns it and its delivery time."""
    rng = ctx.rng
    o = Order(oid or ctx.ids.fresh(), placed, f"C-{rng.randint(10000, 99999)}", fc, carrier,
              tracking_for(rng, carrier), items, placed + timedelta(days=1))
    ctx.ids.near.append(int(o.id[1:]))
    out.manifest += manifest_rows(o)
    t = at(o.ship, rng)
    out.scans.append(scan_line(t, carrier, o.tracking, o.id, fc, "PICKED_UP"))
    for code in exceptions:
        t += timedelta(hours=rng.randint(6, 30))
        out.scans.append(scan_line(t, carrier, o.tracking, o.id, f"HUB-{fc[:3]}", "EXCEPTION", code))
    t += timedelta(hours=rng.randint(20, 50))
    out.scans.append(scan_line(t, carrier, o.tracking, o.id, "DEST", "DELIVERED"))
    return o, t


def returned(ctx: Ctx, o: Order, after: datetime, out: Emitted, code: str | None, reason: str,
             hold_days: int) -> tuple[datetime, datetime, str]:
    """Return of ``o`` with an optional carrier exception; refund ``hold_days`` after receipt.

    Returns (received, refunded, the RETURN_RECEIVED scan line).
    """
    rng = ctx.rng
    t = after + timedelta(days=rng.randint(2, 4))
    ctx.refund_seq[0] += 1
    out.refunds.append(refund_record(f"RT-{t.year}-{ctx.refund_seq[0]:05d}", "return", t,
                                     f"Return authorized for order {o.id} ({o.items[0][0].code}, "
                                     f"{o.items[0][0].product}); reason: {reason}.", order_id=o.id,
                                     sku=o.items[0][0].code, reason=reason, status="authorized"))
    rtrk = tracking_for(rng, o.carrier)
    t += timedelta(days=1, hours=rng.randint(1, 6))
    out.scans.append(scan_line(t, o.carrier, rtrk, o.id, "ORIGIN", "PICKED_UP"))
    if code:
        t += timedelta(hours=rng.randint(10, 30))
        out.scans.append(scan_line(t, o.carrier, rtrk, o.id, o.fc, "EXCEPTION", code))
    t += timedelta(hours=rng.randint(8, 30))
    received = scan_line(t, o.carrier, rtrk, o.id, o.fc, "RETURN_RECEIVED")
    out.scans.append(received)
    refunded = datetime(t.year, t.month, t.day, 11, 0, 0) + timedelta(days=hold_days)
    return t, refunded, received[1]


def refund_text(o: Order, amount: float, day: date, why: str) -> str:
    return f"Refund of {money(amount)} for order {o.id} issued on {day}; {why}"
