"""Names learned from prose by what they stand beside: a carrier or a facility that the tenant's tables name only by
code and its notes only by name ("Skyline Express flagged EX-77" on an order whose manifest row says ``SKX``;
"LEJ1 warehouse notes (Leipzig)").

For every capitalised phrase in a sentence of prose, the codes of the association kinds that the line names itself, or
that the orders it names carry in their table rows, are counted. A phrase seen in at least `MIN_LINES` lines whose
codes agree on one value of one kind in at least `MIN_SHARE` of them becomes a synonym of that code. Sentence-
opening words ("Return", "Customer") stand beside every code and never reach the share; the least trusted source,
so a name already known is never moved.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence

from ingest.vocab_model import Term, Vocabulary

ASSOCIATED_KINDS = ("carrier", "facility")
MIN_LINES = 3
MIN_SHARE = 0.9
_PHRASE = re.compile(r"(?<![\w#/-])[A-Z][a-z]{2,}[A-Za-z]*(?:\s+[A-Z][a-z]{2,}[A-Za-z]*){0,2}(?![\w-])")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z#])")  # a paragraph names many orders; a sentence, few
_CALENDAR = {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
             "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}


def _attributes(loaded: Sequence[tuple[str, str, list[str]]], vocab: Vocabulary) -> dict[str, dict[str, set[str]]]:
    """Each order's carrier and facility codes, from the table rows that name exactly one order."""
    out: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for _rel, suffix, lines in loaded:
        if suffix != ".csv":
            continue
        for line in lines[1:]:
            ms = vocab.mentions(line)
            orders = {m.canonical for m in ms if m.kind == "order"}
            if len(orders) == 1:
                (order,) = orders
                for m in ms:
                    if m.kind in ASSOCIATED_KINDS:
                        out[order][m.kind].add(m.canonical)
    return out


def learn_names(loaded: Sequence[tuple[str, str, list[str]]], vocab: Vocabulary) -> int:
    """Add the names prose gives to codes (see the module); returns how many were added."""
    known = {s.lower() for t in vocab.terms.values() for s in (t.canonical, *t.synonyms)}
    attrs = _attributes(loaded, vocab)
    seen: Counter[tuple[str, str]] = Counter()  # (phrase, kind) -> lines naming one code of the kind
    beside: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    first: dict[str, str] = {}
    for rel, suffix, lines in loaded:
        if suffix == ".csv":
            continue
        sentences = [(i, s) for i, line in enumerate(lines, 1) for s in _SENTENCE.split(line)]
        for i, line in sentences:
            phrases = {p for p in _PHRASE.findall(line) if p.lower() not in known and p.lower() not in _CALENDAR}
            if not phrases:
                continue
            ms = vocab.mentions(line)
            codes: dict[str, set[str]] = defaultdict(set)
            for m in ms:
                if m.kind in ASSOCIATED_KINDS:
                    codes[m.kind].add(m.canonical)
            for o in {m.canonical for m in ms if m.kind == "order"}:
                for k, vs in attrs.get(o, {}).items():
                    codes[k] |= vs
            for kind, values in codes.items():
                if len(values) != 1:  # a line about several carriers says nothing of which one a name is
                    continue
                for p in phrases:
                    seen[(p, kind)] += 1
                    beside[(p, kind)].update(values)
                    first.setdefault(p, f"{rel}:{i}")
    qualified: dict[str, list[tuple[str, str, int, int]]] = defaultdict(list)
    for (phrase, kind), n in seen.items():
        code, hits = beside[(phrase, kind)].most_common(1)[0]
        if n >= MIN_LINES and hits >= MIN_SHARE * n and vocab.kind_of(code) == kind:
            qualified[phrase].append((kind, code, hits, n))
    added = 0
    for phrase, found in qualified.items():
        if len(found) != 1:  # beside one carrier and one facility alike: which it names is not known
            continue
        kind, code, hits, n = found[0]
        if vocab.add_term(Term(kind, code, (phrase,), f"{first[phrase]} (beside {code} in {hits} of {n} lines)")) \
                is None:
            added += 1
    return added
