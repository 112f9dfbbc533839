"""Which of the orders a question names share a problem ("Orders A, B and C were all late. Which two were held
up by the same problem, and what was it?"), answered from the records: each named order's exception codes (codes
that most orders' records do not carry: a status every order has is no problem), grouped; the code the most named
orders share, if one does."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from ingest.vocab_model import Vocabulary
from packing.facts import Event, FactTable
from packing.plan import Part

ROUTINE_SHARE = 0.25  # a code on more than this share of the orders is a status, not a problem


@dataclass
class Computed:
    """A part answered from the records: the sentence (with ``[E#]`` labels from ``first_label``), the records
    cited in label order, and whether it is verified (the filter holds every key the part names)."""

    text: str
    record_ids: list[str]
    verified: bool
    filter: str


def meaning(code: str, vocab: Vocabulary) -> str:
    term = vocab.terms.get(code)
    names = [s for s in (term.synonyms if term else ()) if " " in s]
    return f"{code} ({names[0]})" if names else code


def shared_code(part: Part, vocab: Vocabulary, table: FactTable, first_label: int = 1) -> Computed | None:
    """The code shared by the most of the part's named orders (at least two), each order cited by its record of
    it; None when the part names fewer than two orders or no code is shared by more of them than any other."""
    named = list(dict.fromkeys(m.canonical for m in vocab.mentions(part.text) if m.kind == "order"))
    if len(named) < 2:
        return None
    spread = table.code_spread()
    n_orders = max(1, table.order_count())
    codes: dict[str, dict[str, Event]] = defaultdict(dict)  # order -> code -> its first event
    for e in table.events:
        for o in table.orders_of(e) & set(named):
            for c in e.mentions.get("code", ()):
                if len(spread.get(c, ())) <= ROUTINE_SHARE * n_orders:
                    codes[o].setdefault(c, e)
    holders: dict[str, list[str]] = defaultdict(list)
    for o in named:
        for c in codes.get(o, {}):
            holders[c].append(o)
    # the code most named orders share; among those, the rarest in the whole history (the exception, not a place
    # or a status the vocabulary took for a code)
    def rank(kv: tuple[str, list[str]]) -> tuple[int, int]:
        return -len(kv[1]), len(spread.get(kv[0], ()))

    ranked = sorted(holders.items(), key=rank)
    if not ranked or len(ranked[0][1]) < 2 or (len(ranked) > 1 and rank(ranked[1]) == rank(ranked[0])):
        return None
    code, sharing = ranked[0]
    labels: dict[str, int] = {}

    def cite(order: str, c: str) -> str:
        rid = codes[order][c].record_id
        labels.setdefault(rid, first_label + len(labels))
        return f"{order} [E{labels[rid]}]"

    text = f"Orders {' and '.join(cite(o, code) for o in sharing)} were both held up by {meaning(code, vocab)}"
    if len(sharing) > 2:
        text = text.replace(" were both ", " were all ")
    others = [o for o in named if o not in sharing]
    for o in others:
        own = sorted(codes.get(o, {}), key=lambda c: len(spread.get(c, ())))
        text += (f"; order {cite(o, own[0])} had {meaning(own[0], vocab)} instead" if own
                 else f"; order {o} shows no exception in the records")
    return Computed(text + ".", list(labels), True, f"exception codes of orders {', '.join(named)}")
