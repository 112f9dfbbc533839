"""Training targets (ground-truth answers citing evidence labels), the scorer, and eval-only paraphrases.

A target states the facts in the order the evidence gives them, then the result, citing each record's label:
``The return was received on 2021-03-04 [E2] and the refund was issued on 2021-03-12 [E7]; 12 - 4 = 8 days.``
Counting and date arithmetic are written out: a 135M model gets them right far more often that way.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from corpus.domain import CARRIERS
from packing.prompt import NOT_FOUND

_DATE = re.compile(r"\b(20\d{2})-(\d{2})-(\d{2})\b")
_ORDER = re.compile(r"#\d{5,7}\b")
_EXC = re.compile(r"\bEX-\d{2}\b")


def cite(labels: Sequence[str]) -> str:
    """``[E2] [E5]`` for the given labels, without repeats, in prompt order."""
    uniq = sorted(set(labels), key=lambda x: int(x[1:]))
    return " ".join(f"[{x}]" for x in uniq)


def _label_of(needle: str, gold: Mapping[str, str]) -> list[str]:
    """Labels of the gold records (label -> text) that contain ``needle``."""
    return [lab for lab, text in gold.items() if needle in text]


def _days_arith(rec: date, ref: date) -> str:
    days = (ref - rec).days
    if (rec.year, rec.month) == (ref.year, ref.month):
        return f"{ref.day} - {rec.day} = {days} days"
    month_len = calendar.monthrange(rec.year, rec.month)[1]
    return f"{calendar.month_name[rec.month]} has {month_len} days: {month_len} - {rec.day} + {ref.day} = {days} days"


def target_answer(q: Mapping[str, Any], gold: Mapping[str, str]) -> str:
    """The answer the adapter learns for question record ``q`` given the gold evidence ``gold`` (label -> text).

    Raises ``ValueError`` when a fact the answer needs is in none of the gold records (the caller then drops
    the example or packs a bigger budget).
    """
    kind, accept = str(q["type"]), [str(a) for a in q["accept"]]
    every = cite(list(gold))
    if kind == "single_needle":
        sku = str(q["question"]).rstrip("?").split()[-1]
        return f"Order {accept[0]} contained {sku} {every}."
    if kind == "multi_key":
        m = re.search(r"declared value of (\S+) in order (#\d+)", str(q["question"]))
        if not m:
            raise ValueError(f"unexpected multi_key question {q['question']!r}")
        units = re.search(r"\((\d+) units?\)", str(q["answer"]))
        qty = f" for {units.group(1)} units" if units else ""
        return f"The declared value of {m.group(1)} in order {m.group(2)} was ${accept[0]}{qty} {every}."
    if kind == "multi_value":
        parts = [f"{code} {cite(_label_of(code, gold))}" for code in accept]
        return "The carrier recorded " + ", ".join(parts[:-1]) + f" and {parts[-1]}."
    if kind == "temporal":
        dates = _DATE.findall(str(q["answer"]))
        if len(dates) != 2:
            raise ValueError(f"temporal answer without two dates: {q['answer']!r}")
        rec, ref = (date(int(y), int(mo), int(d)) for y, mo, d in dates)
        order = _ORDER.search(str(q["question"]))
        oid = order.group(0) if order else ""
        lab_rec = cite([lab for lab, t in gold.items() if "RETURN_RECEIVED" in t and str(rec) in t]) or every
        lab_ref = cite([lab for lab, t in gold.items() if "Refund of" in t and str(ref) in t]) or every
        return (f"The return of order {oid} was received on {rec} {lab_rec} and the refund was issued on {ref} "
                f"{lab_ref}; {_days_arith(rec, ref)}.")
    if kind == "cross_order":
        return _cross_order(str(q["question"]), accept, gold)
    if kind == "aggregation":
        orders = [m.group(0) for m in map(_ORDER.search, q["evidence"]) if m]
        return f"The shipments held were {_listed(orders, gold)}: {accept[0]} shipments."
    if kind == "policy_version":
        head = str(q["evidence"][0]).lstrip("# ")  # "POL-RETURNS v2 — effective 2018-04-01"
        label, _, eff = head.partition(" — effective ")
        window = "refund window" if "REFUND" in label else "return window"
        return (f"{label} (effective {eff}) {cite(_label_of(head, gold)) or every} was in effect; it set a {window} "
                f"of {accept[1]} days.")
    if kind in ("cause", "paraphrase"):
        return _with_labels(str(q["answer"]), gold, every)
    raise ValueError(f"no target for question type {kind!r}")


def _listed(orders: Sequence[str], gold: Mapping[str, str]) -> str:
    """``#1 [E2], #2 [E5] and #3 [E9]``: each order with the labels of the records that name it."""
    parts = [f"{o} {cite(_label_of(o, gold))}" for o in orders]
    return ", ".join(parts[:-1]) + f" and {parts[-1]}" if len(parts) > 1 else "".join(parts)


def _cross_order(question: str, orders: Sequence[str], gold: Mapping[str, str]) -> str:
    """The filter spelled out, then the matches in prompt order (a left-to-right scan, not the generator's order).

    ``Kestrel Logistics scans as KST. The KST records of 2017 with EX-83 are orders #62929 [E1], #73876 [E2] and
    #27126 [E19].`` The records name the carrier by its code only, so a 135M model that writes the code first has
    it in view while it scans. Trained on the generator's (date) order instead, it listed EX-83 records of other
    carriers and years (cross-order 0.50 at 4K against 0.75 now, `eval/results/domain_gpu.json`).
    """
    m = re.search(r"shipped with (.+?) in (\d{4}) recorded exception (EX-\d+)", question)
    if not m:
        raise ValueError(f"unexpected cross_order question {question!r}")
    name, year, code = m.groups()
    carrier = next((c.code for c in CARRIERS if c.name == name), None)
    if carrier is None:
        raise ValueError(f"unknown carrier {name!r} in {question!r}")

    def first_label(o: str) -> int:
        labels = _label_of(o, gold)
        if not labels:
            raise ValueError(f"order {o} is in none of the gold records")
        return min(int(x[1:]) for x in labels)

    in_prompt_order = sorted(orders, key=first_label)
    return (f"{name} scans as {carrier}. The {carrier} records of {year} with {code} are orders "
            f"{_listed(in_prompt_order, gold)}.")


def _with_labels(answer: str, gold: Mapping[str, str], every: str) -> str:
    """The generator's own answer with the labels of the records it draws on appended."""
    return answer.rstrip(".") + f" {every}."


def not_found_answer() -> str:
    return f"The answer is {NOT_FOUND}."


def _numeric_pattern(x: str) -> re.Pattern[str]:
    # a number standing alone: not part of a date, an id, a decimal or a longer number
    return re.compile(rf"(?<![\w.#/:$-]){re.escape(x)}(?![\w:/-]|\.\d)")


def is_correct(answer: str, accept: Sequence[str], match: str = "all", qtype: str = "") -> bool:
    """Score ``answer`` by the question's ``accept``/``match`` rule (case-insensitive substrings).

    Stricter than a plain substring for numbers: ``8`` must stand alone (``8 days``), not inside ``2021-03-08``;
    temporal answers must say ``N day(s)``.
    """
    if match not in ("all", "any"):
        raise ValueError(f"match must be 'all' or 'any', got {match!r}")
    low = answer.lower()

    def hit(x: str) -> bool:
        if x.isdigit():
            if qtype == "temporal":
                return re.search(rf"(?<![\w.-]){x} days?\b", low) is not None
            return _numeric_pattern(x).search(low) is not None
        return x.lower() in low

    found = [hit(str(a)) for a in accept if str(a).strip()]
    return bool(found) and (all(found) if match == "all" else any(found))


# Eval-only rewordings of each trained template ("paraphrased templates are never trained on").
PARAPHRASES: dict[str, tuple[str, str]] = {
    "single_needle": (r"Which order contained the SKU (\S+)\?", r"In which order was item \1 shipped?"),
    "multi_key": (r"What was the declared value of (\S+) in order (#\d+)\?",
                  r"For order \2, how much was \1 declared at?"),
    "multi_value": (r"Which exception codes did the carrier record on the shipment of order (#\d+)\?",
                    r"List the carrier exception codes scanned for order \1."),
    "temporal": (r"How many days after the return of order (#\d+) was received was the refund issued\?",
                 r"Order \1 was returned: how long did the refund take once the return arrived, in days?"),
    "cause": (r"Why was the refund for order (#\d+) delayed\?", r"What held up the refund on order \1?"),
    "cross_order": (r"Which orders shipped with (.+) in (\d{4}) recorded exception (EX-\d+) \((\w+)\)\?",
                    r"Name the \2 \1 shipments that got an \3 (\4) exception."),
    "aggregation": (r"How many shipments from the (.+) warehouse were held with exception EX-91 in (\d{4})\?",
                    r"Count the EX-91 holds on shipments out of \1 during \2."),
    "policy_version": (r"Which version of the (\w+) policy was in effect on (\S+), and what (.+) did it set\?",
                       r"On \2, which \1 policy version applied and what was its \3?"),
}


# Training-only rewordings: other wordings of the same templates, so the adapter does not key on one phrasing.
# They must never equal the eval-only PARAPHRASES above (tests/eval/tuning checks it).
TRAIN_REWORDINGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "single_needle": (PARAPHRASES["single_needle"][0], (r"Find the order that shipped SKU \1.",
                                                        r"SKU \1 was part of which order?")),
    "multi_key": (PARAPHRASES["multi_key"][0], (r"What declared value did order \2 give for \1?",
                                                r"Declared value of \1 on order \2?")),
    "multi_value": (PARAPHRASES["multi_value"][0], (r"What exception codes were scanned on order \1's shipment?",
                                                    r"Order \1: which carrier exceptions were recorded?")),
    "temporal": (PARAPHRASES["temporal"][0], (r"How many days passed between receiving the return of order \1 "
                                              r"and issuing its refund?",
                                              r"Order \1: days from return received to refund issued?")),
    "cause": (PARAPHRASES["cause"][0], (r"What caused the refund delay on order \1?",
                                        r"Order \1's refund was late. Why?")),
    "cross_order": (PARAPHRASES["cross_order"][0], (r"List the orders shipped by \1 in \2 with exception \3 (\4).",
                                                    r"In \2, which \1 shipments had exception \3 (\4)?")),
    "aggregation": (PARAPHRASES["aggregation"][0], (r"In \2, how many \1 shipments were held with EX-91?",
                                                    r"Number of EX-91 holds at the \1 warehouse in \2?")),
    "policy_version": (PARAPHRASES["policy_version"][0], (r"Which \1 policy version was in force on \2, and what "
                                                          r"\3 did it set?",
                                                          r"\1 policy on \2: which version, and what \3?")),
}


def training_rewording(question: str, qtype: str, pick: int) -> str | None:
    """Training rewording number ``pick`` (modulo the count) of ``question``, or None for an unknown template."""
    rule = TRAIN_REWORDINGS.get(qtype)
    if rule is None or not re.fullmatch(rule[0], question):
        return None
    return re.sub(rule[0], rule[1][pick % len(rule[1])], question)


def paraphrase(question: str, qtype: str) -> str | None:
    """The eval-only rewording of ``question``, or None when its type has none (or the template differs)."""
    rule = PARAPHRASES.get(qtype)
    if rule is None or not re.fullmatch(rule[0], question):
        return None
    return re.sub(rule[0], rule[1], question)
