"""World b's canonical question: one delayed refund in March 2021, and whether the carrier's pattern came back on
similar high-value electronics returns in 2023 (with decoys that differ in one respect each)."""

from __future__ import annotations

from datetime import datetime, timedelta

from corpus.world_b.life import Plan, ReturnTrail, give_back, outbound
from corpus.world_b.plant_chains import standard_holds_line
from corpus.world_b.plant_lookup import Planted, evidence_of
from corpus.world_b.records import Item, Line, Order, Question, month_of, note
from corpus.world_b.vocab import REFUND_STANDARD

CANONICAL_ORDER = "4029988"
CANONICAL_QUESTION = (f"Why was the refund for order {CANONICAL_ORDER} delayed in March 2021, and did the same "
                      f"carrier pattern appear for similar high-value electronics returns in 2023?")
PATTERN = ("HOLD-SEC", "ATP", 2023)  # (code, carrier, year): closed to filler so the recurrence list is complete


def _return(plan: Plan, o: Order, code: str, reason: str) -> tuple[list[Line], ReturnTrail]:
    lines, delivered, _ = outbound(plan.rng, o)
    trail = give_back(plan.rng, plan.ids, o, delivered + timedelta(days=plan.rng.randint(2, 5), hours=2), reason,
                      code)
    return lines + trail.lines, trail


def canonical(plan: Plan) -> Planted:
    rng = plan.rng
    plan.blocked_years.add(PATTERN)
    plan.ids.used.add(CANONICAL_ORDER)
    laptop = Item("EL-LAP-Z90", "studio laptop", 2149.00)
    placed = datetime(2021, 2, 18, 10, 42)
    o = Order(CANONICAL_ORDER, placed, "acct61408", "CZ-PRG", "ATP", plan.ids.tracking(rng, "ATP"), [(laptop, 1)])
    plan.planted_keys.add((o.site, o.carrier, placed.date()))
    lines, delivered, _ = outbound(rng, o)
    trail = give_back(rng, plan.ids, o, datetime(2021, 2, 24, 9, 15), "will not charge", "HOLD-SEC")
    assert trail.exception_line is not None and trail.refunded.month == 3
    lines += trail.lines
    memo = note(datetime(2021, 3, 5, 11, 20), "Ines Okafor",
                f"buyer chasing the refund on order {o.ref}; Atlas Post flagged the returned laptop at Prague with a "
                f"cut tamper seal, so {trail.rma} sits in security review before we can pay out.")
    lines.append(memo)
    ed = REFUND_STANDARD[0].values
    evidence = [evidence_of(trail.rma_line), trail.exception_line.text, memo.text,
                standard_holds_line(1, ed["security"], ed["damage"])]

    recurrences = []
    for month, type_code, noun, reason in ((3, "CAM", "cinema camera", "autofocus hunts"),
                                           (6, "LAP", "workstation laptop", "fan is loud"),
                                           (10, "PHN", "foldable phone", "hinge creaks")):
        item = plan.planted_item("EL", type_code, noun, 1100, 2600)
        r = plan.new_order(datetime(2023, month, rng.randint(2, 12), 14, 5), [(item, 1)], carrier="ATP")
        more, rt = _return(plan, r, "HOLD-SEC", reason)
        lines += more
        recurrences.append(r)
        assert rt.exception_line is not None
        evidence += [evidence_of(rt.rma_line), rt.exception_line.text]
    decoys = (  # each differs in one respect: another carrier, a cheap non-electronics item, another code
        ("NVF", Item("EL-TAB-Z41", "drawing tablet", 1299.00), "HOLD-SEC", 4),
        ("ATP", Item("HM-KTL-Z12", "kettle", 44.99), "HOLD-SEC", 7),
        ("ATP", Item("EL-CAM-Z63", "mirrorless camera", 1849.00), "HOLD-DMG", 9),
    )
    for carrier, item, code, month in decoys:
        d = plan.new_order(datetime(2023, month, rng.randint(2, 12), 9, 30), [(item, 1)], carrier=carrier)
        lines += _return(plan, d, code, "not as described")[0]
    refs = [r.ref for r in recurrences]
    wait = (trail.refunded.date() - trail.received.date()).days
    answer = (f"The return of order {o.ref} ({trail.rma}, a {laptop.noun} at 2149.00 EUR) was flagged HOLD-SEC by "
              f"Atlas Post (ATP) at Prague: the tamper seal was cut, so it went to security review, and under "
              f"edition 1 of the Refund Standard the refund waited {ed['security']} more days (posted "
              f"{trail.refunded.date()}, {wait} days after receipt). Yes: in 2023 Atlas Post put the same HOLD-SEC "
              f"hold on the high-value electronics returns of orders {', '.join(refs)}.")
    return lines, [Question("b-canonical", "cause", CANONICAL_QUESTION, answer, ["HOLD-SEC", "security review", *refs],
                            evidence, month_of(trail.refunded.date()))]
