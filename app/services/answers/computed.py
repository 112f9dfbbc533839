"""List, count and exists parts answered from the records (`packing.facts`), with the filter shown and every item
cited. The filter comes from the part's own keys (the tenant's vocabulary), its dates, the keys a "same ..." part
takes from the previous answer, and qualifiers the tenant's tables can express (a category column's value named in
the question; "high-value" as the top decile of an amount column). A part the records cannot express returns None
and is answered by retrieval and the model instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from app.services.answers.compare import Computed, shared_code
from ingest.vocab_model import Vocabulary
from packing.facts import FactTable, Filter, RecordLike, Selection, quantile
from packing.plan import HIGH_VALUE_RE, Part
from retrieval.query import MONTHS, analyze

FACT_TARGETS = ("order", "shipment", "rma")  # lists of ids; code and name lists stay with the model for now
FILTER_KINDS = ("order", "sku", "tracking", "rma", "facility", "carrier", "code")
HIGH_VALUE_QUANTILE = 0.9
_VALUE_COLUMN = re.compile(r"value|amount|price|total", re.I)
_MAX_LISTED = 50
MAX_UNEXPRESSED = 2  # more words of the part than this left out of the filter: the records do not express it


def fact_table(records: Sequence[RecordLike], vocab: Vocabulary) -> FactTable:
    """The fact table of one index version's records, read with its vocabulary (the caller keeps it per version)."""
    return FactTable.build(records, lambda text: ((m.kind, m.canonical) for m in vocab.mentions(text)))


_NAME_RE = re.compile(r"(?<![\w#-])[A-Z][a-z][A-Za-z]*(?:\s+[A-Z][a-z][A-Za-z]*)*")
_NOT_NAMES = {"did", "does", "do", "was", "were", "is", "are", "has", "have", "how", "which", "what", "when", "why",
              "where", "who", "the", "yes", "no", "q1", "q2", "q3", "q4"} | {m.lower() for m in MONTHS}


def unresolved_names(text: str, vocab: Vocabulary) -> list[str]:
    """Capitalised names in ``text`` that the tenant's vocabulary does not know (``Pacifica Courier`` when no
    record defines that carrier): a filter without them may list more than was asked."""
    covered = [(m.start, m.end) for m in vocab.mentions(text)]
    out = []
    for m in _NAME_RE.finditer(text):
        words = [w for w in m.group(0).split() if w.lower() not in _NOT_NAMES]
        if words and not any(s <= m.start() < e or s < m.end() <= e for s, e in covered):
            out.append(" ".join(words))
    return out


_WORD_RE = re.compile(r"[A-Za-z][a-z]{3,}")
# words a list question uses that are not qualifiers of what it lists
_GENERIC = set("""which what when where were have that this those these with from into over under after before
during there their they them then than same similar pattern carrier carriers appear appeared recur recurred happen
happened occur occurred repeat repeated shipped ship shipping sent recorded record records held hold holds delayed
delay late order orders shipment shipments parcel parcels package packages return returns returned refund refunds
code codes exception exceptions event events many much count total also other others again list each every both
placed made show find give tell about like only does been being year years month months week weeks days contain
stuck because
contains contained include includes included bought purchased customer customers says said there site sites
warehouse warehouses facility facilities center centre hubs ships""".split())


SYNONYMS: dict[str, tuple[str, ...]] = {  # plain English, both ways where it reads both ways
    "missing": ("incomplete", "absent", "lost"), "incomplete": ("missing",), "broken": ("damaged", "cracked"),
    "damaged": ("broken",), "wrong": ("incorrect", "invalid"), "unreadable": ("illegible",),
    "illegible": ("unreadable",), "paperwork": ("papers", "documents"), "documents": ("papers", "paperwork"),
    "storm": ("weather",), "snow": ("weather",), "absent": ("missing",),
}


def _code_by_description(text: str, vocab: Vocabulary) -> tuple[str, set[str]] | None:
    """The one code whose meaning (its names in the vocabulary) shares the most distinctive words with ``text``
    ("held up by bad weather" -> the code meaning "weather delay at the gateway"); None when none or a tie."""
    words: dict[str, set[str]] = {}
    for t in vocab.terms.values():
        if t.kind == "code":
            words[t.canonical] = {w.lower() for s in t.synonyms for w in _WORD_RE.findall(s)} - _GENERIC
    df: dict[str, int] = {}
    for ws in words.values():
        for w in ws:
            df[w] = df.get(w, 0) + 1
    said = {w.lower() for w in _WORD_RE.findall(text)} - _GENERIC
    # a word of the question stands for itself and its plain-English near-synonyms ("missing": "incomplete")
    means = {w: {w, *SYNONYMS.get(w, ())} for w in said}
    asked = set().union(*means.values()) if means else set()
    scored = sorted(((sum(1.0 / df[w] for w in ws & asked), code) for code, ws in words.items() if ws & asked),
                    reverse=True)
    if not scored or scored[0][0] < 1.0 or (len(scored) > 1 and scored[1][0] == scored[0][0]):
        return None
    hit = words[scored[0][1]] & asked
    return scored[0][1], {w for w, ws in means.items() if ws & hit}


def _leftovers(text: str, vocab: Vocabulary, used: set[str]) -> list[str]:
    """Content words of ``text`` that no part of the filter expresses (``electronics`` where no column holds it)."""
    spans = [(m.start, m.end) for m in vocab.mentions(text)]
    out = []
    for m in _WORD_RE.finditer(text):
        w = m.group(0).lower()
        if w in _GENERIC or w in used or w.rstrip("s") in used or w in MONTHS or any(
                s <= m.start() < e for s, e in spans):
            continue
        out.append(w)
    return out


def _filter(part: Part, vocab: Vocabulary, table: FactTable, inherited: dict[str, set[str]]
            ) -> tuple[Filter, set[str]] | None:
    """The part's filter and the words of the part it expresses beyond vocabulary mentions."""
    a = analyze(part.text, vocab)
    used: set[str] = set()
    keys: dict[str, frozenset[str]] = {}
    for m in vocab.mentions(part.text):
        if m.kind not in FILTER_KINDS:
            continue
        keys.setdefault(m.kind, frozenset())
        keys[m.kind] = keys[m.kind] | {m.canonical}
    for kind in part.inherits:
        if kind not in keys and inherited.get(kind):
            keys[kind] = frozenset(inherited[kind])
    if any(kind not in keys for kind in part.inherits):
        return None  # "the same pattern" with nothing found before it to be the same as
    text = part.text.lower()
    fields = {col: value for value, col in table.categorical_values().items()
              if re.search(rf"\b{re.escape(value)}s?\b", text)}
    if "code" not in keys:
        described = _code_by_description(part.text, vocab)
        if described is not None:
            keys["code"] = frozenset({described[0]})
            used |= described[1]
    used |= {w for v in fields.values() for w in v.lower().split()}
    if part.high_value:
        used |= {w.lower() for m in HIGH_VALUE_RE.finditer(part.text) for w in _WORD_RE.findall(m.group(0))}
    minimums: dict[str, float] = {}
    if part.high_value:
        columns = {c: v for c, v in table.numeric_columns().items() if _VALUE_COLUMN.search(c) and len(v) >= 10}
        if not columns:
            return None  # "high-value" with no amount column to read it from
        col = max(columns, key=lambda c: (("value" in c.lower()), len(columns[c])))
        minimums[col] = quantile(columns[col], HIGH_VALUE_QUANTILE)
    if not keys and not fields:
        return None  # dates alone select everything of a period: not what a list question means
    return Filter(keys, a.date_from, a.date_to, fields, minimums), used


def _phrase(part: Part, sel: Selection, first_label: int, orders_of: dict[str, set[str]]
            ) -> tuple[str, list[str]]:
    noun = {"order": "order", "shipment": "shipment", "rma": "return"}[part.target or "order"]
    noun += "" if sel.count == 1 else "s"
    labels: dict[str, int] = {}
    listed = []
    for value, events in list(sel.items.items())[:_MAX_LISTED]:
        rid = events[0].record_id
        labels.setdefault(rid, first_label + len(labels))
        orders = sorted(orders_of.get(value, set())) if part.target == "shipment" else []
        of = f" (order {', '.join(orders)})" if orders else ""
        listed.append(f"{value}{of} [E{labels[rid]}]")
    more = f" and {sel.count - _MAX_LISTED} more" if sel.count > _MAX_LISTED else ""
    where = f"(records matching {sel.filter.describe()})"
    if part.kind == "count":
        text = f"{sel.count} {noun} {where}" + (f": {', '.join(listed)}{more}." if listed else ".")
    elif part.kind == "exists":
        text = (f"Yes: the same holds for {sel.count} {noun} {where}: {', '.join(listed)}{more}." if listed
                else f"No: no record matches {sel.filter.describe()}.")
    else:
        text = (f"{sel.count} {noun} {where}: {', '.join(listed)}{more}." if listed
                else f"Not in the data: no record matches {sel.filter.describe()}.")
    return text, list(labels)


def computable(part: Part) -> bool:
    """Is ``part`` a kind the records answer (a list, count or exists of ids, or which named orders share a code)?"""
    return part.kind == "same" or (part.kind != "lookup" and part.target in FACT_TARGETS)


def answer_from_records(part: Part, vocab: Vocabulary, table: FactTable, inherited: dict[str, set[str]],
                        first_label: int = 1) -> Computed | None:
    """``part`` answered from ``table``, or None when it is not a list of ids or its filter cannot be built."""
    if part.kind == "same":
        return shared_code(part, vocab, table, first_label)
    if not computable(part):
        return None
    built = _filter(part, vocab, table, inherited)
    if built is None:
        return None
    f, used = built
    target = "tracking" if part.target == "shipment" else part.target or "order"
    sel = table.select(f, target)
    if part.target == "shipment" and not sel.items:
        sel = table.select(f, "order")  # a tenant whose shipments carry no tracking number: one per order
    orders_of = {v: {o for e in evs for o in table.orders_of(e)} for v, evs in sel.items.items()}
    text, record_ids = _phrase(part, sel, first_label, orders_of)
    unknown = unresolved_names(part.text, vocab)
    in_names = {w.lower() for n in unknown for w in n.split()}
    unread = [w for w in _leftovers(part.text, vocab, used) if w not in in_names]
    if len(unknown) + len(unread) > MAX_UNEXPRESSED:
        return None  # a description the filter cannot read ("a coffee mill showed up with ..."), not a filter
    if unknown:
        text += f" (Not verified: {', '.join(unknown)} is not in this tenant's vocabulary, so the filter omits it.)"
    if unread:
        text += f" (Not verified: the filter does not express {', '.join(repr(w) for w in unread)}.)"
    return Computed(text, record_ids, not unknown and not unread, f.describe())


def kinds_in(text: str, vocab: Vocabulary) -> dict[str, set[str]]:
    """The canonical values ``text`` names, by kind."""
    out: dict[str, set[str]] = {}
    for m in vocab.mentions(text):
        out.setdefault(m.kind, set()).add(m.canonical)
    return out


def carried_over(question: str, answer: str, vocab: Vocabulary, table: FactTable) -> dict[str, set[str]]:
    """What a later "the same ..." part can take over from a verified answer: the keys the answer names (when it
    names no code, the rarest code on the subject's own records: its exception), and for the subject's records
    (the orders the question or answer names) that carry those codes, their carrier and facility."""
    found = kinds_in(answer, vocab)
    subjects = kinds_in(question, vocab).get("order", set()) | found.get("order", set())
    codes = found.get("code", set())
    if not codes and subjects:  # the answer names no code: the subject's own rarest one (its exception, not
        spread = table.code_spread()  # a status every order has)
        own = {c for e in table.events if table.orders_of(e) & subjects for c in e.mentions.get("code", ())}
        if own:
            rarest = min(len(spread.get(c, ())) for c in own)
            codes = {c for c in own if len(spread.get(c, ())) == rarest}
            found["code"] = set(codes)
    for e in table.events:
        orders = table.orders_of(e) & subjects
        if not orders or (codes and not e.mentions.get("code", set()) & codes):
            continue
        for kind in ("carrier", "facility"):
            if kind in found:
                continue
            own = {v for o in orders for v in table.attributes.get(o, {}).get(kind, set())}
            found.setdefault(f"_{kind}", set()).update(own or e.mentions.get(kind, set()))
    for kind in ("carrier", "facility"):
        if f"_{kind}" in found:
            found.setdefault(kind, set()).update(found.pop(f"_{kind}"))
    return found
