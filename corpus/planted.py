"""Planted facts and their questions: the ground truth the evals score against.

Each planter builds complete orders (manifest rows, scans, returns, notes) around one fact and returns the
question with its accepted answers and its evidence: exact substrings, each within one line of the corpus.
Rare exception codes belong to one question type each, so filler never disturbs an answer:
EX-77 canonical, EX-83 cross-order, EX-91 aggregation, EX-94 cause.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from corpus.domain import CARRIERS, FULFILLMENT_CENTERS, carrier_by_code, exception_by_code, fc_by_code
from corpus.orders import Ctx, Question, refund_text, returned, shipped
from corpus.policies import in_effect
from corpus.world import (
    ROUTINE_CODES,
    Emitted,
    Sku,
    month_start,
    refund_record,
)

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
CANONICAL_QUESTION = ("Why was the refund for order #48291 delayed in March 2021, and did the same carrier pattern "
                      "appear for similar high-value electronics returns in 2023?")



def canonical(ctx: Ctx, m: int) -> tuple[Emitted, list[Question]]:
    """Order #48291 (March 2021, Leipzig, Skyline Express, EX-77) and the 2023 recurrences plus decoys."""
    rng, out = ctx.rng, Emitted()
    laptop = Sku("SKU-EL-10423", "EL", "gaming laptop", 1899.00)
    o, delivered = shipped(ctx, "#48291", date(2021, 2, 22), "LEJ1", "SKX", [(laptop, 1)], out)
    rec, refunded, rec_line = returned(ctx, o, delivered, out, "EX-77", "laptop would not power on", 14)
    policy = in_effect("REFUND", rec.date())
    note = (f"Return for {o.id} (gaming laptop) arrived with the tamper seal broken; Skyline Express flagged EX-77. "
            f"Per {policy.label} the unit went to the security review cage and the refund is on hold until the "
            f"review closes.")
    out.notes.append((rec + timedelta(hours=3), "LEJ1", note))
    why = (f"delayed by the security review required by {policy.label} after carrier exception EX-77 "
           f"(seal breach) on the return.")
    text = refund_text(o, 1899.00, refunded.date(), why)
    ctx.refund_seq[0] += 1
    out.refunds.append(refund_record(f"RF-2021-{ctx.refund_seq[0]:05d}", "refund", refunded, text, order_id=o.id,
                                     amount_usd=1899.0, status="issued", reason="security review"))
    ex_line = next(line for _, line in out.scans if "EX-77" in line)
    repeats: list[str] = []
    evidence = [ex_line, note.split(";")[0], why.split(" after")[0]]
    for i, (month, fc, carrier, value, cat) in enumerate(((2, "MAD2", "SKX", 1450.0, "EL"), (6, "LEJ1", "SKX",
                                                          2199.0, "EL"), (9, "DUB1", "SKX", 1240.0, "EL"),
                                                          (7, "RNO1", "MRP", 1675.0, "EL"), (4, "LEJ1", "SKX", 89.0,
                                                                                              "AP"))):
        sku = ctx.rare_sku(cat)
        sku = Sku(sku.code, cat, sku.product, value)
        q, deliv = shipped(ctx, None, date(2023, month, rng.randint(3, 12)), fc, carrier, [(sku, 1)], out)
        r, rf, _ = returned(ctx, q, deliv, out, "EX-77", "seal found broken by customer", 12)
        ctx.refund_seq[0] += 1
        out.refunds.append(refund_record(f"RF-{rf.year}-{ctx.refund_seq[0]:05d}", "refund", rf, refund_text(
            q, value, rf.date(), "held for security review after carrier exception EX-77."), order_id=q.id,
            amount_usd=value, status="issued"))
        if i < 3:  # the first three match: high-value electronics, same carrier; the rest are decoys
            repeats.append(q.id)
            evidence.append(next(line for _, line in out.scans if q.id in line and "EX-77" in line))
    answer = (f"The refund was held for a security review under {policy.label} because Skyline Express recorded "
              f"exception EX-77 (seal breach) on the return; yes, the same pattern recurred in 2023 on orders "
              f"{', '.join(repeats)}.")
    return out, [Question("q-canonical", "cause", CANONICAL_QUESTION, answer, ["EX-77", "security review", *repeats],
                          evidence, 62)]


def single_needle(ctx: Ctx, m: int, n: int) -> tuple[Emitted, list[Question]]:
    out = Emitted()
    sku = ctx.rare_sku(ctx.rng.choice(("HG", "SP", "TY", "BE")))
    fc = ctx.rng.choice(FULFILLMENT_CENTERS).code
    o, _ = shipped(ctx, None, ctx.day_in(m), fc, ctx.rng.choice(CARRIERS).code, [(sku, 1)], out)
    row = out.manifest[0][1]
    return out, [Question(f"q-single-{n}", "single_needle", f"Which order contained the SKU {sku.code}?",
                          f"Order {o.id} ({sku.product}, shipped from {fc}).", [o.id], [row], m)]


def multi_key(ctx: Ctx, m: int, n: int) -> tuple[Emitted, list[Question]]:
    out = Emitted()
    common = ctx.rng.sample(ctx.catalog[:20], 2)  # SKUs that appear in many other orders too
    qty = ctx.rng.randint(2, 3)
    items = [(common[0], qty), (common[1], 1)]
    o, _ = shipped(ctx, None, ctx.day_in(m), ctx.rng.choice(FULFILLMENT_CENTERS).code, ctx.rng.choice(CARRIERS).code,
                   items, out)
    row = out.manifest[0][1]
    value = f"{common[0].value * qty:.2f}"
    return out, [Question(f"q-multikey-{n}", "multi_key",
                          f"What was the declared value of {common[0].code} in order {o.id}?",
                          f"${value} ({qty} units).", [value], [row], m)]


def multi_value(ctx: Ctx, m: int, n: int) -> tuple[Emitted, list[Question]]:
    out = Emitted()
    codes = tuple(ctx.rng.sample(ROUTINE_CODES, 3))
    sku = ctx.rng.choice(ctx.catalog)
    o, _ = shipped(ctx, None, ctx.day_in(m), ctx.rng.choice(FULFILLMENT_CENTERS).code, ctx.rng.choice(CARRIERS).code,
                   [(sku, 1)], out, exceptions=codes)
    lines = [line for _, line in out.scans if "EXCEPTION" in line]
    return out, [Question(f"q-multivalue-{n}", "multi_value",
                          f"Which exception codes did the carrier record on the shipment of order {o.id}?",
                          ", ".join(codes) + ".", list(codes), lines, m)]


def temporal(ctx: Ctx, m: int, n: int) -> tuple[Emitted, list[Question]]:
    out = Emitted()
    sku = ctx.rng.choice(ctx.catalog)
    o, deliv = shipped(ctx, None, ctx.day_in(m, 0, 8), ctx.rng.choice(FULFILLMENT_CENTERS).code,
                       ctx.rng.choice(CARRIERS).code, [(sku, 1)], out)
    hold = ctx.rng.randint(3, 12)
    rec, rf, rec_line = returned(ctx, o, deliv, out, None, "item not as described", hold)
    ctx.refund_seq[0] += 1
    text = refund_text(o, sku.value, rf.date(), "processed after inspection.")
    out.refunds.append(refund_record(f"RF-{rf.year}-{ctx.refund_seq[0]:05d}", "refund", rf, text, order_id=o.id,
                                     amount_usd=sku.value, status="issued"))
    days = (rf.date() - rec.date()).days
    return out, [Question(f"q-temporal-{n}", "temporal",
                          f"How many days after the return of order {o.id} was received was the refund issued?",
                          f"{days} days (received {rec.date()}, refunded {rf.date()}).", [str(days)],
                          [rec_line, text], m)]


ACCESSORIES = ("charging dock", "lens cap", "power adapter", "remote control", "carry case", "spare battery")


def cause(ctx: Ctx, m: int, n: int) -> tuple[Emitted, list[Question]]:
    out = Emitted()
    sku = ctx.rare_sku("EL")
    fc = ctx.rng.choice(FULFILLMENT_CENTERS).code
    o, deliv = shipped(ctx, None, ctx.day_in(m, 0, 8), fc, ctx.rng.choice(CARRIERS).code, [(sku, 1)], out)
    rec, _, _ = returned(ctx, o, deliv, out, "EX-94", "defective on arrival", 0)
    policy = in_effect("REFUND", rec.date())
    hold = policy.window_days + ctx.rng.randint(4, 9)
    rf = rec + timedelta(days=hold)
    missing = ctx.rng.choice(ACCESSORIES)
    note = (f"Weight audit on return {o.id} ({sku.product}): the box came back without the {missing}, which "
            f"explains the carrier's EX-94 weight mismatch. Refund held until the customer ships the {missing}.")
    out.notes.append((rec + timedelta(hours=5), fc, note))
    ctx.refund_seq[0] += 1
    text = refund_text(o, sku.value, rf.date(), f"outside the {policy.window_days}-day window of {policy.label} "
                       f"because of the weight mismatch audit.")
    out.refunds.append(refund_record(f"RF-{rf.year}-{ctx.refund_seq[0]:05d}", "refund", rf, text, order_id=o.id,
                                     amount_usd=sku.value, status="issued"))
    ex_line = next(line for _, line in out.scans if "EX-94" in line)
    return out, [Question(f"q-cause-{n}", "cause", f"Why was the refund for order {o.id} delayed?",
                          f"The carrier flagged EX-94 (weight mismatch) because the return came back without the "
                          f"{missing}; the refund was held past the {policy.label} window until it was shipped.",
                          ["EX-94", missing], [ex_line, note.split(":")[0], text], m)]


def cross_order(ctx: Ctx, m: int, n: int) -> tuple[Emitted, list[Question]]:
    out = Emitted()
    year = month_start(m).year
    carrier = carrier_by_code(ctx.pick("cross", [c.code for c in CARRIERS], str(year)))
    orders, lines = [], []
    for k in range(3):
        mm = min(m + k, (year - 2016) * 12 + 11)
        o, _ = shipped(ctx, None, ctx.day_in(mm), ctx.rng.choice(FULFILLMENT_CENTERS).code, carrier.code,
                       [(ctx.rng.choice(ctx.catalog), 1)], out, exceptions=("EX-83",))
        orders.append(o.id)
        lines.append(next(line for _, line in out.scans if o.id in line and "EX-83" in line))
    e = exception_by_code("EX-83")
    return out, [Question(f"q-cross-{n}", "cross_order",
                          f"Which orders shipped with {carrier.name} in {year} recorded exception {e.code} "
                          f"({e.name})?", ", ".join(orders) + ".", orders, lines, m)]


def aggregation(ctx: Ctx, m: int, n: int) -> tuple[Emitted, list[Question]]:
    out = Emitted()
    year = month_start(m).year
    fc = fc_by_code(ctx.pick("agg", [f.code for f in FULFILLMENT_CENTERS], str(year)))
    k = ctx.rng.randint(2, 5)
    lines = []
    for i in range(k):
        mm = min(m + i, (year - 2016) * 12 + 11)
        o, _ = shipped(ctx, None, ctx.day_in(mm), fc.code, ctx.rng.choice(CARRIERS).code,
                       [(ctx.rng.choice(ctx.catalog), 1)], out, exceptions=("EX-91",))
        lines.append(next(line for _, line in out.scans if o.id in line and "EX-91" in line))
    return out, [Question(f"q-agg-{n}", "aggregation",
                          f"How many shipments from the {fc.city} warehouse were held with exception EX-91 in {year}?",
                          f"{k} shipments.", [str(k)], lines, m)]


def policy_version(ctx: Ctx, m: int, n: int) -> tuple[Emitted, list[Question]]:
    name = ctx.rng.choice(("REFUND", "RETURNS"))
    day = ctx.day_in(m, 0, 27)
    p = in_effect(name, day)
    what = "refund window" if name == "REFUND" else "return window"
    window = f"within {p.window_days} days"
    return Emitted(), [Question(f"q-policy-{n}", "policy_version",
                                f"Which version of the {name.lower()} policy was in effect on {day}, and what "
                                f"{what} did it set?", f"{p.label}: {p.window_days} days.",
                                [f"v{p.version}", str(p.window_days)], [f"# {p.label} — effective {p.effective}",
                                                                        window], m)]


DEFECTS = ("cracked gimbal arm", "swollen battery", "shattered hinge", "water damage under the keyboard",
           "dead pixel cluster", "rattling fan", "burnt charging port")


def paraphrase(ctx: Ctx, m: int, n: int) -> tuple[Emitted, list[Question]]:
    out = Emitted()
    sku = ctx.rare_sku("EL")
    fc = fc_by_code(ctx.pick("para", [f.code for f in FULFILLMENT_CENTERS], str(m)))
    defect = ctx.rng.choice(DEFECTS)
    o, deliv = shipped(ctx, None, ctx.day_in(m, 0, 6), fc.code, ctx.rng.choice(CARRIERS).code, [(sku, 1)], out)
    rec, _, _ = returned(ctx, o, deliv, out, None, "defective on arrival", 2)
    note = f"Returned {sku.product} from {o.id} opened at the bench: {defect}. Not resalable, sent to the vendor."
    out.notes.append((rec + timedelta(hours=2), fc.code, note))
    when = f"{MONTHS[rec.month - 1]} {rec.year}"
    return out, [Question(f"q-paraphrase-{n}", "paraphrase",
                          f"What was wrong with the {sku.product} that came back to the {fc.city} warehouse in "
                          f"{when}?", f"It had a {defect}.", [defect.split()[-1]], [note.split(".")[0]], m)]


PLANTERS: dict[str, Callable[[Ctx, int, int], tuple[Emitted, list[Question]]]] = {
    "single_needle": single_needle, "multi_key": multi_key, "multi_value": multi_value, "temporal": temporal,
    "cause": cause, "cross_order": cross_order, "aggregation": aggregation, "policy_version": policy_version,
    "paraphrase": paraphrase,
}
