"""A lookup about one subject answered from its own records, for when the model's draft could not be verified: the
subject's ids and items ("what was on order X, and which tracking number did it ship under?"), the day of one of
its events ("on what date did it finally reach the customer?"), and why it was held up (the exception codes on its
records, with their meanings from the tenant's vocabulary and the notes that name the subject).

Only English question words are known here; kinds, codes and their meanings come from the tenant's vocabulary and
the fact table. `answer_about` returns None when the question asks none of these, names no single subject, or the
records do not settle it: the caller keeps the model's answer then.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from app.services.answers.compare import ROUTINE_SHARE, Computed, meaning
from ingest.vocab_model import Vocabulary
from packing.facts import Event, FactTable

# what a question asks for about its subject: a vocabulary kind behind English words
ASKED_KINDS: dict[str, re.Pattern[str]] = {
    "tracking": re.compile(r"\btracking\s+(?:numbers?|no\.?|ids?)|\bwaybill|\bconsignment\s+numbers?", re.I),
    "carrier": re.compile(r"\b(?:which|what)\s+(?:carrier|courier|shipping\s+company)\b|"
                          r"\b(?:shipped|sent|carried)\s+(?:with|by|via)\s+(?:which|what|whom)\b", re.I),
    "facility": re.compile(r"\b(?:which|what)\s+(?:warehouse|fulfil?lment\s+cent(?:er|re)|facility|site)\b|"
                           r"\bship(?:ped)?\s+(?:out\s+)?from\s+(?:which|what|where)\b|\bwhere\s+did\b.*\bship\b",
                           re.I),
    "sku": re.compile(r"\bwhat\s+(?:was|were)\s+(?:on|in)\b|\bwhich\s+(?:items?|products?|skus?)\b|"
                      r"\bwhat\s+(?:items?|products?)\b|\bwhat\s+did\b.*\b(?:contain|include|hold)\b", re.I),
    "rma": re.compile(r"\b(?:which|what)\s+(?:rma|return\s+(?:number|id|authori[sz]ation))\b", re.I),
    "code": re.compile(r"\b(?:which|what)\s+(?:exception\s+|event\s+|error\s+)?codes?\b", re.I),
}
WHEN_RE = re.compile(r"\b(?:when|what\s+date|which\s+date|which\s+day|what\s+day)\b", re.I)
# an event the question dates: (its words in the question, its words in a record or in a code's meaning)
EVENTS: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {
    "delivered": (re.compile(r"\bdeliver(?:ed)?\b|\breach(?:ed)?\s+(?:the\s+)?(?:customer|buyer|consignee|"
                             r"recipient)\b|\barrived?\s+(?:at\s+the\s+customer|with\s+the\s+(?:customer|buyer))",
                             re.I),
                  re.compile(r"\bdelivered\b|\bhanded\s+(?:over\s+)?to\s+the\s+(?:consignee|customer|recipient)",
                             re.I)),
    "refunded": (re.compile(r"\brefund(?:ed)?\b", re.I), re.compile(r"\brefund(?:ed)?\b", re.I)),
    "shipped": (re.compile(r"\b(?:ship(?:ped)?|dispatch(?:ed)?|depart(?:ed)?|left)\b", re.I),
                re.compile(r"\b(?:shipped|dispatched|departed|left\s+the)\b", re.I)),
}
LAST_RE = re.compile(r"\b(?:finally|eventually|in\s+the\s+end|last|ultimately)\b", re.I)
FIRST_RE = re.compile(r"\bfirst\b", re.I)
WHY_RE = re.compile(r"\bwhy\b|\bwhat\s+(?:caused|held\s+up|delayed)\b|\bthe\s+reason\b", re.I)
DELAY_RE = re.compile(r"\b(?:delay(?:ed)?|late|long|slow|held|stuck|wait(?:ed|ing)?|hold|hang\s+up)\b", re.I)
RETURN_RE = re.compile(r"\b(?:refund(?:ed|s)?|return(?:ed|s)?|rma)\b", re.I)
_QUANTITY = re.compile(r"^(?:qty|quantity|units|count|pieces|pcs)$", re.I)
_MAX_NOTES = 2
_WORDS = re.compile(r"[A-Za-z][a-z]{2,}")


def _prose(line: str) -> bool:
    """A note written by a person, not a log or table line: mostly words."""
    words = _WORDS.findall(line)
    return len(words) >= 10 and len(words) >= 0.6 * len(line.split())


def subject_of(question: str, vocab: Vocabulary, table: FactTable) -> str | None:
    """The one order ``question`` is about: the order it names, else the order of the one RMA or tracking
    number it names; None when it names none or several."""
    named: dict[str, set[str]] = {}
    for m in vocab.mentions(question):
        named.setdefault(m.kind, set()).add(m.canonical)
    orders = named.get("order", set())
    if not orders:
        orders = {o for kind in ("rma", "tracking") for v in named.get(kind, ())
                  if (o := table.owner.get((kind, v)))}
    return next(iter(orders)) if len(orders) == 1 else None


class _Citations:
    """Labels ``[E#]`` handed out in order of first use, from ``first``."""

    def __init__(self, first: int) -> None:
        self.first, self.ids = first, list[str]()

    def __call__(self, e: Event) -> str:
        if e.record_id not in self.ids:
            self.ids.append(e.record_id)
        return f"[E{self.first + self.ids.index(e.record_id)}]"


def _values(events: Sequence[Event], kind: str) -> dict[str, Event]:
    """Each value of ``kind`` the events name -> its first event (oldest first, undated last)."""
    out: dict[str, Event] = {}
    for e in sorted(events, key=lambda e: (e.day is None, e.day or "")):
        for v in sorted(e.mentions.get(kind, ())):
            out.setdefault(v, e)
    return out


def _quantity(e: Event) -> str:
    qty = [v for c, v in e.fields.items() if _QUANTITY.match(c.strip()) and v.strip().isdigit()]
    return f"{qty[0]} x " if len(qty) == 1 and e.mentions.get("sku") and len(e.mentions["sku"]) == 1 else ""


def _attributes(subject: str, asked: list[str], events: Sequence[Event], table: FactTable, vocab: Vocabulary,
                cite: _Citations, question: str) -> tuple[list[str], bool]:
    clauses, complete = [], True
    for kind in asked:
        found = _values(events, kind)
        if kind == "code":
            found = _rare(found, table, vocab, table.order_count())
        if kind == "tracking" and len(found) > 1 and re.search(r"\bship", question, re.I):
            first = next(iter(found))  # "shipped under": the outbound parcel, the oldest
            found = {first: found[first]}
        if not found:
            complete = False
            clauses.append(f"no {kind} of order {subject} is in the records")
            continue
        listed = ", ".join(f"{_quantity(e) if kind == 'sku' else ''}{meaning(v, vocab)} {cite(e)}"
                           for v, e in found.items())
        clauses.append({"tracking": "it shipped under tracking number", "carrier": "it was carried by",
                        "facility": "it shipped from", "sku": "it held", "rma": "its return is",
                        "code": "its records carry the exception codes"}[kind] + ("s " if kind == "tracking" and
                                                                                   len(found) > 1 else " ") + listed)
    return clauses, complete


def _rare(found: dict[str, Event], table: FactTable, vocab: Vocabulary, population: int) -> dict[str, Event]:
    """The codes of ``found`` that are exceptions, not statuses: on at most the routine share of ``population``
    orders (a code on one order always is), rarest first; only those with a stated meaning when any has one."""
    spread = table.code_spread()
    rare = {c: e for c, e in found.items() if len(spread.get(c, ())) <= max(ROUTINE_SHARE * population, 1)}
    if any(meaning(c, vocab) != c for c in rare):  # a code the tenant never explains is a place or a name
        rare = {c: e for c, e in rare.items() if meaning(c, vocab) != c}
    return dict(sorted(rare.items(), key=lambda kv: (len(spread.get(kv[0], ())), kv[1].day or "")))


def _event_day(question: str, events: Sequence[Event], vocab: Vocabulary, cite: _Citations) -> str | None:
    wanted = [name for name, (asked, _) in EVENTS.items() if asked.search(question)]
    if len(wanted) != 1:
        return None
    _, said = EVENTS[wanted[0]]

    def says(e: Event) -> bool:
        names = " ".join(s for c in e.mentions.get("code", ()) if (t := vocab.terms.get(c)) for s in t.synonyms)
        return bool(e.day) and bool(said.search(e.line) or said.search(names))

    matching = sorted((e for e in events if says(e)), key=lambda e: e.day or "")
    days = list(dict.fromkeys(e.day for e in matching))
    if not days:
        return None
    if len(days) > 1 and not (LAST_RE.search(question) or FIRST_RE.search(question)):
        return None  # several days and nothing says which
    e = matching[0] if FIRST_RE.search(question) and not LAST_RE.search(question) else matching[-1]
    return f"it was {wanted[0]} on {e.day} {cite(e)}"


def _cause(subject: str, question: str, events: Sequence[Event], table: FactTable, vocab: Vocabulary,
           cite: _Citations) -> tuple[str, bool] | None:
    """The subject's exception codes on the leg the question is about (its return when it asks about a refund or
    a return), the rarest first, with the notes that name the subject beside one of them."""
    returns = bool(RETURN_RE.search(question))
    rmas = {v for (kind, v), o in table.owner.items() if kind == "rma" and o == subject}
    rare: dict[str, Event] = {}
    if returns:  # the return leg, among the orders that have a return
        # the return's own parcels: tracking numbers named beside the return's id
        parcels = {t for e in events if e.mentions.get("rma", set()) & rmas for t in e.mentions.get("tracking", ())}
        leg = [e for e in events if e.mentions.get("rma", set()) & rmas or e.mentions.get("tracking", set()) & parcels
               or re.search(r"\breturn", e.line, re.I)]
        rare = _rare(_values(leg, "code"), table, vocab, len({o for (k, _), o in table.owner.items() if k == "rma"}))
    if not rare:
        rare = _rare(_values(events, "code"), table, vocab, table.order_count())
    if not rare:
        return None
    ranked = list(rare.items())
    held = "; ".join(f"{meaning(c, vocab)} ({f'recorded {e.day}' if e.day else 'undated record'}) {cite(e)}"
                     for c, e in ranked)
    which = f"the return {', '.join(sorted(rmas))} of order {subject}" if returns and rmas else f"order {subject}"
    text = f"{which} was held up by {held}"
    notes = [e for e in events if not e.fields and _prose(e.line)
             and (e.mentions.get("code", set()) & set(rare) or e.mentions.get("rma", set()) & rmas)]
    if notes:
        text += "; the notes say: " + "; ".join(f"\"{e.line.strip()}\" {cite(e)}" for e in notes[:_MAX_NOTES])
    refunds = [e for e in events if e.day and EVENTS["refunded"][1].search(e.line)]
    if returns and refunds:
        last = max(refunds, key=lambda e: e.day or "")
        text += f"; the refund was posted on {last.day} {cite(last)}"
    return text, len(ranked) == 1


def answer_about(question: str, vocab: Vocabulary, table: FactTable, first_label: int = 1) -> Computed | None:
    """``question`` about one subject answered from the subject's records (labels from ``first_label``), or None.
    Verified when every thing asked was found, a date is one day, and a cause is one exception code."""
    subject = subject_of(question, vocab, table)
    if subject is None:
        return None
    events = [e for e in table.events if subject in table.orders_of(e)]
    if not events:
        return None
    cite = _Citations(first_label)
    asked = [k for k, rx in ASKED_KINDS.items() if rx.search(question)]
    clauses: list[str] = []
    verified = True
    if WHY_RE.search(question) and DELAY_RE.search(question):
        cause = _cause(subject, question, events, table, vocab, cite)
        if cause is None:
            return None
        clauses.append(cause[0])
        verified = cause[1]
    elif WHEN_RE.search(question):
        day = _event_day(question, events, vocab, cite)
        if day is None:
            return None
        clauses.append(day)
    if asked:
        found, complete = _attributes(subject, asked, events, table, vocab, cite, question)
        clauses += found
        verified = verified and complete
    if not clauses:
        return None
    text = "; ".join(clauses) + "."
    text = text[:1].upper() + text[1:] if text.startswith("the return") else f"Order {subject}: {text}"
    return Computed(text, cite.ids, verified, f"the records of order {subject}")


IDENTIFY_RE = re.compile(r"\b(?:which|what)\s+(?:order|purchase|rma|return)\b.*?"
                         r"\b(?:was\s+(?:that|it)|did\s+(?:we|they|you)|is\s+(?:that|it))\b", re.I)
KEY_KINDS = ("order", "sku", "tracking", "rma")  # a question naming one is a lookup by key, not by description
IDENTIFY_KINDS = {"order": re.compile(r"\b(?:which|what)\s+(?:order|purchase)\b", re.I),
                  "rma": re.compile(r"\b(?:which|what)\s+(?:rma|return)\b", re.I)}


def identify(question: str, ranked: Sequence[tuple[str, str]], vocab: Vocabulary) -> Computed | None:
    """"A customer's X arrived broken. Which order was that?": the ids the best-ranked note gives, from the first
    record of ``ranked`` ((record id, text), best first) with a sentence written by a person naming every kind
    asked. The note matched the description by meaning (retrieval's rank), which nothing checks: never verified.
    None when the question names an id itself or asks for no id."""
    if not IDENTIFY_RE.search(question) or any(m.kind in KEY_KINDS for m in vocab.mentions(question)):
        return None
    kinds = [k for k, rx in IDENTIFY_KINDS.items() if rx.search(question)]
    for record_id, text in ranked:
        for line in text.splitlines():
            if not _prose(line):
                continue
            named: dict[str, list[str]] = {}
            for m in vocab.mentions(line):
                named.setdefault(m.kind, []).append(m.canonical)
            if all(len(set(named.get(k, ()))) == 1 for k in kinds):
                ids = "; ".join(f"{'order' if k == 'order' else 'return'} {named[k][0]}" for k in kinds)
                return Computed(f"{ids[:1].upper()}{ids[1:]}: the record that best matches the description says "
                                f"\"{line.strip()}\" [E1] (matched by meaning, not verified).", [record_id], False,
                                "the best-ranked note naming the ids asked for")
    return None

