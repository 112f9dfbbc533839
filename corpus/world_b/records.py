"""World b's record shapes and how each is written: order rows, three scan-feed styles, RMA records, ledger rows,
case notes; and the id book that hands out order refs, RMA numbers, ledger ids and tracking numbers."""

from __future__ import annotations

import calendar
import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import NamedTuple

from corpus.world_b.vocab import CARRIER, EVENTS, HISTORY_START, N_MONTHS, START_YEAR

MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTH_NAME = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
              "November", "December")
ORDERS_HEADER = "order_ref,placed_at,buyer,site,ship_via,tracking_no,item,units,unit_price_eur"
LEDGER_HEADER = "txn,posted_on,order_ref,rma,amount_eur,method,memo"


class Line(NamedTuple):
    """One line of one output stream; the writer picks the file from ``stream`` and ``ts``."""

    stream: str  # "orders", "feed:<carrier code>", "rma", "ledger", "notes"
    ts: datetime
    text: str


@dataclass(frozen=True)
class Item:
    code: str  # e.g. EL-PHN-X12
    noun: str
    price: float


@dataclass
class Order:
    ref: str  # bare digits, e.g. 4029988
    placed: datetime
    buyer: str
    site: str
    carrier: str
    tracking: str
    items: list[tuple[Item, int]]

    @property
    def value(self) -> float:
        return round(sum(it.price * n for it, n in self.items), 2)


def month_start(m: int) -> date:
    return date(START_YEAR + m // 12, m % 12 + 1, 1)


def month_of(d: date) -> int:
    return (d.year - START_YEAR) * 12 + d.month - 1


def days_in(m: int) -> int:
    start = month_start(m)
    return calendar.monthrange(start.year, start.month)[1]


def spoken_date(d: date) -> str:
    """How a person writes a date: ``14 June 2022``."""
    return f"{d.day} {MONTH_NAME[d.month - 1]} {d.year}"


def spoken_month(m: int) -> str:
    start = month_start(m)
    return f"{MONTH_NAME[start.month - 1]} {start.year}"


def eur(x: float) -> str:
    return f"{x:.2f}"


@dataclass
class IdBook:
    """Unique ids that grow with time, as a real shop's do: the day decides the range, the rng the offset."""

    used: set[str] = field(default_factory=set)

    def _fresh(self, make: Callable[[], object]) -> str:
        for _ in range(1000):
            value = str(make())
            if value not in self.used:
                self.used.add(value)
                return value
        raise RuntimeError("id space exhausted")  # not reachable at the supported sizes

    def order_ref(self, rng: random.Random, day: date) -> str:
        base = 3_000_000 + (day - HISTORY_START).days * 900
        return self._fresh(lambda: base + rng.randint(0, 899))

    def rma(self, rng: random.Random, day: date) -> str:
        doy = day.timetuple().tm_yday
        return self._fresh(lambda: f"RMA-{day.year}-{doy * 200 + rng.randint(0, 199):05d}")

    def txn(self, rng: random.Random, day: date) -> str:
        doy = day.timetuple().tm_yday
        return self._fresh(lambda: f"RF{day.year % 100:02d}{doy:03d}{rng.randint(0, 9999):04d}")

    def tracking(self, rng: random.Random, carrier: str) -> str:
        digits = string.digits
        shapes = {
            "ATP": lambda: "AP" + "".join(rng.choices(digits, k=9)) + "XB",
            "NVF": lambda: "NV" + "".join(rng.choices(digits, k=12)),
            "QRC": lambda: "1Q" + "".join(rng.choices(string.ascii_uppercase + digits, k=16)),
            "BZL": lambda: str(rng.randint(1, 9)) + "".join(rng.choices(digits, k=9)),
            "ODM": lambda: "OSP-" + "".join(rng.choices(digits, k=8)),
        }
        return self._fresh(shapes[carrier])


def order_rows(o: Order) -> list[Line]:
    return [Line("orders", o.placed, f"{o.ref},{o.placed:%Y-%m-%d %H:%M},{o.buyer},{o.site},{o.carrier},{o.tracking},"
                                     f"{it.code},{n},{eur(it.price)}") for it, n in o.items]


def scan(carrier: str, ts: datetime, loc: str, tracking: str, event: str, ref: str, code: str | None = None) -> Line:
    """A scan event in the carrier's own feed style; ``event`` is ``EXCEPTION`` when ``code`` is given."""
    c = CARRIER[carrier]
    if c.feed == "pipe":
        what = f"EXC/{code}" if code else event
        text = f"{ts:%Y-%m-%d %H:%M}|{loc}|{carrier}|{tracking}|{what}|ref {ref}"
    elif c.feed == "prose":
        verb = f"held, code {code}" if code else EVENTS[event][1]
        text = (f"{MONTH_ABBR[ts.month - 1]} {ts.day} {ts.year} {ts:%H:%M} @{loc} parcel {tracking} {verb} "
                f"({c.name}) [ref {ref}]")
    else:
        text = (f"ts={ts:%Y-%m-%dT%H:%M} carrier={carrier} trk={tracking} evt={event} loc={loc} ref={ref}"
                + (f" code={code}" if code else ""))
    return Line(f"feed:{carrier}", ts, text)


def rma_text(rma_day: date, o: Order, item: Item, reason: str) -> str:
    return (f"Return authorised on {rma_day} for order {o.ref}: {item.code} ({item.noun}, {eur(item.price)} EUR). "
            f"Reason given: {reason}.")


def rma_record(rma: str, ts: datetime, o: Order, item: Item, reason: str, return_tracking: str) -> Line:
    meta = {"order_ref": o.ref, "item": item.code, "return_carrier": o.carrier, "return_tracking": return_tracking,
            "status": "authorised"}
    rec = {"id": rma, "type": "rma", "timestamp": f"{ts:%Y-%m-%dT%H:%M:%S}",
           "text": rma_text(ts.date(), o, item, reason), "metadata": meta}
    return Line("rma", ts, json.dumps(rec, ensure_ascii=False))


def ledger_row(txn: str, ts: datetime, o: Order, rma: str, amount: float, method: str, memo: str) -> Line:
    return Line("ledger", ts, f"{txn},{ts:%Y-%m-%d},{o.ref},{rma},{eur(amount)},{method},{memo}")


def note(ts: datetime, agent: str, body: str) -> Line:
    """A case note; the writer files it under its day's heading in the month's notes file."""
    return Line("notes", ts, f"{ts:%H:%M} {agent}: {body}")


def in_history(ts: datetime) -> bool:
    return 0 <= month_of(ts.date()) < N_MONTHS


@dataclass
class Question:
    """A planted question with its ground truth, in the questions.jsonl schema the evals score against."""

    id: str
    type: str
    question: str
    answer: str
    accept: list[str]
    evidence: list[str]  # exact substrings of one line of one docs file each
    month: int
    match: str = "all"

    def record(self, n_months: int = N_MONTHS) -> dict[str, object]:
        return {"id": self.id, "type": self.type, "question": self.question, "answer": self.answer,
                "accept": self.accept, "match": self.match, "evidence": self.evidence,
                "depth": round(self.month / max(1, n_months - 1), 3), "month": str(month_start(self.month))[:7]}
