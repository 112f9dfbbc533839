"""Planted chains: answers that need records of several files joined (order -> RMA -> return scans -> ledger ->
policy), several orders compared, or every record of a scope listed."""

from __future__ import annotations

from datetime import datetime, timedelta

from corpus.world_b.life import Plan, give_back, outbound
from corpus.world_b.plant_lookup import Planted, evidence_of, moment
from corpus.world_b.records import Line, Order, Question, month_of, spoken_month
from corpus.world_b.vocab import (
    CARRIERS_B,
    EXCEPTIONS,
    HANDBOOK,
    REFUND_STANDARD,
    in_force,
)

CAUSE_WORDS = {"HOLD-DMG": "damage inspection", "HOLD-SEC": "security review", "R09": "label"}
SCOPE_WORDS = {"W04": "held up by bad weather", "C31": "stuck at customs over missing papers",
               "D17": "delayed by an unreadable address label"}


def cause(plan: Plan, m: int, n: int) -> Planted:
    """A refund that came late because the return was held (inspection, security review) or its label was void."""
    rng = plan.rng
    o = plan.new_order(moment(plan, m, 1, 12), [(rng.choice(plan.catalog), 1)])
    lines, delivered, _ = outbound(rng, o)
    code = plan.safe_code(tuple(CAUSE_WORDS), o.carrier, delivered)
    trail = give_back(rng, plan.ids, o, delivered + timedelta(days=rng.randint(2, 6)), "not as described", code)
    assert trail.exception_line is not None  # safe_code chose a code no scope forbids
    lines += trail.lines
    wait = (trail.refunded.date() - trail.received.date()).days
    answer = (f"The return {trail.rma} for order {o.ref} hit {code} ({EXCEPTIONS[code][0]}); the refund was posted on "
              f"{trail.refunded.date()}, {wait} days after the parcel was received on {trail.received.date()}.")
    return lines, [Question(f"b-cause-{n}", "cause", f"Why did the refund for order {o.ref} take so long?", answer,
                            [code, CAUSE_WORDS[code]],
                            [evidence_of(trail.rma_line), trail.exception_line.text, trail.refund_line.text], m)]


def cross_order(plan: Plan, m: int, n: int) -> Planted:
    """Three late orders; two of them share an exception code, the third had another."""
    rng = plan.rng
    shared, other = rng.sample(("D17", "W04", "C31"), 2)
    made = []
    for i, code in enumerate((shared, other, shared)):
        o = order_open_to(plan, moment(plan, m, 1 + 6 * i, 6 + 6 * i), code)
        lines, _, key = outbound(rng, o, (code,))
        made.append((o, lines, key[code]))
    (a, la, ea), (b, lb, eb), (c, lc, ec) = made
    order = [a, b, c]
    rng.shuffle(order)
    names = ", ".join(o.ref for o in order[:2]) + f" and {order[2].ref}"
    answer = (f"Orders {a.ref} and {c.ref} both hit {shared} ({EXCEPTIONS[shared][0]}); order {b.ref} had {other} "
              f"({EXCEPTIONS[other][0]}) instead.")
    return la + lb + lc, [Question(f"b-crossorder-{n}", "cross_order",
                                   f"Orders {names} were all late. Which two were held up by the same problem, and "
                                   f"what was it?", answer, [a.ref, c.ref, shared], [ea.text, ec.text], m)]


def order_open_to(plan: Plan, placed: datetime, code: str) -> Order:
    """A planted order whose carrier may show ``code`` in the days after ``placed`` (no reserved scope forbids it)."""
    while True:
        free = [c.code for c in CARRIERS_B
                if all(plan.allow(code, c.code, placed + timedelta(days=d)) for d in (0, 9))]
        if not free:
            raise ValueError(f"every carrier's {code} scope around {placed.date()} is reserved for aggregation "
                             f"questions: ask for fewer questions per type at this depth")
        o = plan.new_order(placed, [(plan.rng.choice(plan.catalog), 1)], carrier=plan.rng.choice(free))
        if o.carrier in free:
            return o


def aggregation(plan: Plan, m: int, n: int) -> Planted:
    """Every shipment of one carrier held with one exception code in one month (the scope is closed to filler and
    to every later planted order), and a decoy of the same carrier and code just before the month."""
    rng = plan.rng
    free = [(code, c) for code in sorted(SCOPE_WORDS) for c in CARRIERS_B
            if (code, c.code, m) not in plan.blocked_months and ("shown", code, c.code, m) not in plan.taken]
    if not free:
        raise ValueError(f"no exception scope left for another aggregation question in {spoken_month(m)}: "
                         f"ask for fewer questions per type at this depth")
    code, carrier = rng.choice(free)
    plan.blocked_months.add((code, carrier.code, m))
    lines: list[Line] = []
    held: list[tuple[str, Line]] = []
    for _ in range(rng.randint(3, 5)):
        o = plan.new_order(moment(plan, m, 1, 18), [(rng.choice(plan.catalog), 1)], carrier=carrier.code)
        out, _, key = outbound(rng, o, (code,))
        if month_of(key[code].ts.date()) != m:  # keep the scope exact: re-plant a day earlier
            continue
        lines += out
        held.append((o.ref, key[code]))
    # the decoy: same carrier and code, a few days before the month starts
    if (code, carrier.code, m - 1) not in plan.blocked_months:
        decoy = plan.new_order(moment(plan, m - 1, 18, 25), [(rng.choice(plan.catalog), 1)], carrier=carrier.code)
        decoy_lines, _, decoy_key = outbound(rng, decoy, (code,))
        if month_of(decoy_key[code].ts.date()) == m - 1:
            lines += decoy_lines
            plan.taken.add(("shown", code, carrier.code, m - 1))  # no later aggregation may choose that scope
    refs = sorted(ref for ref, _ in held)
    answer = (f"{len(refs)} {carrier.name} ({carrier.code}) shipments hit {code} ({EXCEPTIONS[code][0]}) in "
              f"{spoken_month(m)}: " + ", ".join(refs) + ".")
    return lines, [Question(f"b-aggregation-{n}", "aggregation",
                            f"Which {carrier.name} shipments were {SCOPE_WORDS[code]} in {spoken_month(m)}, and how "
                            f"many were there?", answer, refs, [ln.text for _, ln in sorted(held)], m)]


def policy_version(plan: Plan, m: int, n: int) -> Planted:
    """A return near a policy boundary: which Returns Handbook revision (or Refund Standard edition) applied."""
    rng = plan.rng
    handbook = n % 2 == 0
    revs = HANDBOOK if handbook else REFUND_STANDARD
    target = revs[1 + (n // 2) % (len(revs) - 1)]
    when = datetime.combine(target.effective, datetime.min.time()) + timedelta(days=rng.choice((-9, -4, 3, 8)),
                                                                                hours=rng.randint(9, 17))
    if plan.depth_month is not None:
        when = moment(plan, m, 5, 20)
    placed = when - timedelta(days=rng.randint(8, 14), hours=rng.randint(0, 5))
    o = plan.new_order(placed, [(rng.choice(plan.catalog), 1)])
    lines, delivered, _ = outbound(rng, o)
    # the Handbook revision in force on the request day decides; the Standard's edition on the receipt day, which
    # comes two or three days after the request
    opened = max(when if handbook else when - timedelta(days=2), delivered + timedelta(hours=6))
    trail = give_back(rng, plan.ids, o, opened, "changed my mind")
    lines += trail.lines
    if handbook:
        rev = in_force(HANDBOOK, opened.date())
        window = rev.values["window"]
        q = (f"Which revision of the Returns Handbook applied to the return request on order {o.ref}, and how many "
             f"days did the customer have to send it back?")
        answer = (f"The return {trail.rma} was requested on {opened.date()}, under revision {rev.number} "
                  f"(in force since {rev.effective}): {window} days from delivery.")
        accept = [f"revision {rev.number}", f"{window} days"]
        evidence = [evidence_of(trail.rma_line), handbook_effective_line(rev.number, rev.effective),
                    handbook_window_line(rev.number, window)]
    else:
        ed = in_force(REFUND_STANDARD, trail.received.date())
        days = ed.values["processing"]
        q = (f"Which edition of the Refund Standard governed the refund for the return on order {o.ref}, and how "
             f"many days after receipt was the refund due?")
        answer = (f"The return {trail.rma} was received on {trail.received.date()}, under edition {ed.number} "
                  f"(in force since {ed.effective}): the refund was due {days} days after receipt.")
        accept = [f"edition {ed.number}", f"{days} days"]
        evidence = [evidence_of(trail.rma_line), trail.received_line.text,
                    standard_effective_line(ed.number, ed.effective), standard_timing_line(ed.number, days)]
    return lines, [Question(f"b-policy-{n}", "policy_version", q, answer, accept, evidence,
                            month_of(opened.date()))]


def handbook_effective_line(number: int, effective: object) -> str:
    return f"Returns Handbook, revision {number} takes effect on {effective}"


def handbook_window_line(number: int, window: int) -> str:
    return f"Under revision {number} of the Returns Handbook, customers may return an item within {window} days"


def standard_effective_line(number: int, effective: object) -> str:
    return f"Refund Standard, edition {number} takes effect on {effective}"


def standard_timing_line(number: int, days: int) -> str:
    return f"Under edition {number} of the Refund Standard, a refund is due {days} days after the return is received"


def standard_holds_line(number: int, security: int, damage: int) -> str:
    return (f"Under edition {number}, a return under security review (HOLD-SEC) waits {security} more days before the "
            f"refund; a return held for a damage inspection (HOLD-DMG) waits {damage} more days")
