"""A parcel's life in world b: the outbound scans, a return with its RMA, scans and refund; and the plan that keeps
planted facts true (the keys and exception scopes filler must not touch)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from corpus.world_b.records import (
    IdBook,
    Item,
    Line,
    Order,
    ledger_row,
    month_of,
    order_rows,
    rma_record,
    scan,
)
from corpus.world_b.vocab import (
    CARRIERS_B,
    CATALOG,
    FILLER_VARIANT_LETTERS,
    SITE,
    SITES,
    refund_wait_days,
)

Allow = Callable[[str, str, datetime], bool]  # (exception code, carrier, when) -> may it happen here?
METHODS = ("card", "card", "wallet", "bank transfer")


def always(code: str, carrier: str, ts: datetime) -> bool:
    return True


@dataclass
class Plan:
    """What the planters share: ids, catalog, and the scopes reserved for planted ground truth."""

    rng: random.Random
    ids: IdBook
    catalog: list[Item]
    reserved_keys: set[tuple[str, str, date]] = field(default_factory=set)  # (site, carrier, placed day)
    planted_keys: set[tuple[str, str, date]] = field(default_factory=set)
    blocked_months: set[tuple[str, str, int]] = field(default_factory=set)  # (code, carrier, month index)
    blocked_years: set[tuple[str, str, int]] = field(default_factory=set)  # (code, carrier, year)
    taken: set[tuple[object, ...]] = field(default_factory=set)
    depth_month: int | None = None  # every planted fact in this month (the --depth sweep), or spread when None

    def allow(self, code: str, carrier: str, ts: datetime) -> bool:
        return ((code, carrier, month_of(ts.date())) not in self.blocked_months
                and (code, carrier, ts.year) not in self.blocked_years)

    def safe_code(self, options: tuple[str, ...], carrier: str, around: datetime) -> str:
        """An exception code no reserved scope forbids for ``carrier`` within a month of ``around``."""
        free = [c for c in options if all(self.allow(c, carrier, around + timedelta(days=d)) for d in (0, 15, 31))]
        return self.rng.choice(free or [options[0]])

    def new_order(self, placed: datetime, items: list[tuple[Item, int]], site: str | None = None,
                  carrier: str | None = None, buyer: str | None = None) -> Order:
        """A planted order; a (site, carrier, day) that multi_key reserved is avoided by changing what the caller
        left open (the carrier, else the site), never what it asked for."""
        rng = self.rng
        fixed_site, fixed_carrier = site, carrier
        site = site or rng.choice(SITES).code
        carrier = carrier or rng.choice(CARRIERS_B).code
        while (site, carrier, placed.date()) in self.reserved_keys:
            if fixed_carrier is None:
                carrier = rng.choice(CARRIERS_B).code
            elif fixed_site is None:
                site = rng.choice(SITES).code
            else:
                raise ValueError(f"{(site, carrier, placed.date())} is reserved for another planted order")
        self.planted_keys.add((site, carrier, placed.date()))
        return Order(self.ids.order_ref(rng, placed.date()), placed, buyer or f"acct{rng.randint(10000, 89999)}",
                     site, carrier, self.ids.tracking(rng, carrier), items)

    def planted_item(self, cat: str, type_code: str, noun: str, lo: float, hi: float) -> Item:
        """An item that only this planted order carries (variant letter Q, which the catalog never uses)."""
        while True:
            code = f"{cat}-{type_code}-Q{self.rng.randint(10, 99)}"
            if ("item", code) not in self.taken:
                self.taken.add(("item", code))
                return Item(code, noun, round(self.rng.uniform(lo, hi), 0) - 0.01)


def build_catalog(rng: random.Random) -> list[Item]:
    items = []
    for cat, types in CATALOG.items():
        for type_code, (noun, lo, hi) in types.items():
            letters = rng.sample(FILLER_VARIANT_LETTERS, 4)
            for letter in letters:
                for _ in range(2):
                    items.append(Item(f"{cat}-{type_code}-{letter}{rng.randint(10, 99)}", noun,
                                      round(rng.uniform(lo, hi), 0) - 0.01))
    return sorted(set(items), key=lambda it: it.code)


def gateway(o: Order, rng: random.Random) -> str:
    return rng.choice(SITE[o.site].gateways)


def outbound(rng: random.Random, o: Order, exceptions: tuple[str, ...] = (), allow: Allow = always,
             attempt_failed: bool = False) -> tuple[list[Line], datetime, dict[str, Line]]:
    """Manifest rows and outbound scans; returns the lines, the delivery time and the lines by event/code."""
    lines, key = order_rows(o), {}
    t = o.placed + timedelta(hours=rng.randint(3, 26), minutes=rng.randint(0, 59))
    key["DEPARTED"] = scan(o.carrier, t, o.site, o.tracking, "DEPARTED", o.ref)
    gw = gateway(o, rng)
    t += timedelta(hours=rng.randint(6, 20), minutes=rng.randint(0, 59))
    key["GATEWAY"] = scan(o.carrier, t, gw, o.tracking, "GATEWAY", o.ref)
    lines += [key["DEPARTED"], key["GATEWAY"]]
    for code in exceptions:
        t += timedelta(hours=rng.randint(2, 10), minutes=rng.randint(0, 59))
        if allow(code, o.carrier, t):
            key[code] = scan(o.carrier, t, gw, o.tracking, "EXCEPTION", o.ref, code)
            lines.append(key[code])
            t += timedelta(hours=rng.randint(20, 60))
    t += timedelta(hours=rng.randint(8, 30), minutes=rng.randint(0, 59))
    lines.append(scan(o.carrier, t, "LOCAL", o.tracking, "OUT_FOR_DELIVERY", o.ref))
    if attempt_failed and allow("D22", o.carrier, t):
        t += timedelta(hours=rng.randint(2, 8))
        key["D22"] = scan(o.carrier, t, "CONSIGNEE", o.tracking, "EXCEPTION", o.ref, "D22")
        t += timedelta(days=rng.randint(1, 3), hours=rng.randint(-3, 3))
        lines += [key["D22"], scan(o.carrier, t, "LOCAL", o.tracking, "OUT_FOR_DELIVERY", o.ref)]
    t += timedelta(hours=rng.randint(1, 7), minutes=rng.randint(0, 59))
    key["DELIVERED"] = scan(o.carrier, t, "CONSIGNEE", o.tracking, "DELIVERED", o.ref)
    lines.append(key["DELIVERED"])
    return lines, t, key


@dataclass
class ReturnTrail:
    rma: str
    rma_line: Line
    lines: list[Line]
    received: datetime
    refunded: datetime
    received_line: Line
    refund_line: Line
    exception_line: Line | None


def give_back(rng: random.Random, ids: IdBook, o: Order, opened: datetime, reason: str, code: str | None = None,
              allow: Allow = always) -> ReturnTrail:
    """The return of ``o``'s first item: RMA record, return scans (ref = the RMA), refund on the ledger when due."""
    item = o.items[0][0]
    rma = ids.rma(rng, opened.date())
    rtrk = ids.tracking(rng, o.carrier)
    rma_line = rma_record(rma, opened, o, item, reason, rtrk)
    t = opened + timedelta(days=rng.randint(1, 3), hours=rng.randint(0, 6), minutes=rng.randint(0, 59))
    lines = [rma_line, scan(o.carrier, t, "CONSIGNEE", rtrk, "RETURN_PICKUP", rma)]
    exc = None
    if code and allow(code, o.carrier, t + timedelta(hours=12)):
        t += timedelta(hours=12) if code != "R09" else timedelta(hours=rng.randint(4, 10))
        exc = scan(o.carrier, t, o.site if code.startswith("HOLD") else gateway(o, rng), rtrk, "EXCEPTION", rma, code)
        lines.append(exc)
        if code == "R09":  # the parcel waits for a new label
            t += timedelta(days=rng.randint(4, 7))
    else:
        code = None
    t += timedelta(hours=rng.randint(16, 40), minutes=rng.randint(0, 59))
    received = scan(o.carrier, t, o.site, rtrk, "RETURN_RECEIVED", rma)
    lines.append(received)
    refunded = datetime(t.year, t.month, t.day, 16, 0) + timedelta(days=refund_wait_days(t.date(), code),
                                                                 minutes=rng.randint(0, 90))
    refund = ledger_row(ids.txn(rng, refunded.date()), refunded, o, rma, item.price, rng.choice(METHODS),
                        "refund issued")
    lines.append(refund)
    return ReturnTrail(rma, rma_line, lines, t, refunded, received, refund, exc)
