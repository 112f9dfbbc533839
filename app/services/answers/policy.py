"""Which version of a policy applied, answered from the policy's own documents: the version in force on the day the
question names, or on the days of the order's return records it asks about, with the clause of that version's
document that answers the rest of the question ("what return window did it set?").

The policy is the one the question names as the tenant's vocabulary knows it ("Returns Handbook"), or the one whose
name shares a word with the question ("the returns policy" -> ``POL-RETURNS``); versions and the day each took
effect come from `retrieval.policies`. English question words only. None when no single policy is meant or no day
is known: the model answers then.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence

from app.services.answers.about import subject_of
from app.services.answers.compare import Computed
from ingest.vocab_model import Vocabulary, policy_version
from packing.facts import FactTable
from retrieval.policies import PolicyRecord, PolicyVersion, in_force
from retrieval.query import analyze

ASKS_VERSION = re.compile(r"\b(?:which|what)\s+(?:version|revision|edition|release)\b|\bin\s+(?:effect|force)\b|"
                          r"\b(?:applied|governed|applies|governs)\b", re.I)
_WORD = re.compile(r"[a-z]{3,}")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
# question words that stand for words a clause uses ("window": the days within which)
CONCEPTS: dict[str, tuple[str, ...]] = {"window": ("within", "day"), "deadline": ("within", "day", "due"),
                                        "long": ("day",), "many": ("day",), "period": ("within", "day")}
_STOP = set("""which what when where with that this those these from have been does did the and for was were its
version revision edition policy policies effect force applied apply applies governed govern governs order orders
under set sets""".split())


def _stem(word: str) -> str:
    for suffix, keep in (("ing", 4), ("ed", 4), ("s", 3)):
        if word.endswith(suffix) and len(word) - len(suffix) >= keep:
            return word[: -len(suffix)]
    return word


def _words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP}


def _policy_named(question: str, vocab: Vocabulary, names: Sequence[str]) -> str | None:
    named = {(split[0] if (split := policy_version(m.canonical)) else m.canonical)
             for m in vocab.mentions(question) if m.kind == "policy"} & set(names)
    if len(named) == 1:
        return named.pop()
    asked = _words(question)
    sharing = [n for n in names if _words(n.replace("-", " ").replace("_", " ")) & asked]
    return sharing[0] if len(sharing) == 1 else None


def _clause(question: str, version: PolicyVersion, chunks: Sequence[PolicyRecord]) -> tuple[str, PolicyRecord] | None:
    """The sentence of the version's document sharing the most (rarity-weighted) question words, at least two."""
    asked = _words(question) - _words(version.name.replace("-", " "))
    asked |= {w for a in list(asked) for w in CONCEPTS.get(a, ())}
    sentences = [(s.strip(), chunks[r]) for r in version.rows for s in _SENTENCE.split(chunks[r].text)
                 if len(s.strip()) > 20 and not s.lstrip().startswith("#")]
    df = Counter(w for s, _ in sentences for w in _words(s) & asked)
    best: tuple[float, str, PolicyRecord] | None = None
    for s, c in sentences:
        shared = _words(s) & asked
        if len(shared) >= 2:
            score = sum(math.log(1 + len(sentences) / df[w]) for w in shared)
            if best is None or score > best[0]:
                best = (score, s, c)
    return (best[1], best[2]) if best else None


def answer_policy(question: str, vocab: Vocabulary, table: FactTable, versions: Mapping[str, list[PolicyVersion]],
                  chunks: Sequence[PolicyRecord], first_label: int = 1) -> Computed | None:
    """The version of the policy ``question`` means in force on its day (labels from ``first_label``), or None.
    Verified when one version was in force and, if the question asks more than the version, a clause answers it."""
    if not versions or not ASKS_VERSION.search(question):
        return None
    name = _policy_named(question, vocab, list(versions))
    if name is None:
        return None
    spans = analyze(question, vocab).spans
    ids: list[str] = []
    on = ""
    if spans:
        first, last = min(s[0] for s in spans), max(s[1] for s in spans)
        on = f"on {first}" if first == last else f"from {first} to {last}"
    else:
        subject = subject_of(question, vocab, table)
        if subject is None:
            return None
        rmas = {v for (kind, v), o in table.owner.items() if kind == "rma" and o == subject}
        held = [e for e in table.events if e.day and e.mentions.get("rma", set()) & rmas]
        if not held:
            return None
        first = min(e.day or "" for e in held)
        last = first  # the day the return was opened: the version in force then applied to it
        opened = min(held, key=lambda e: e.day or "")
        ids.append(opened.record_id)
        on = f"when the return {', '.join(sorted(rmas))} of order {subject} was opened on {first} [E{first_label}]"
    live = in_force(versions[name], first, last)
    if not live:
        return None
    label = first_label + len(ids)
    shown = []
    for v in live:
        ids.append(chunks[v.rows[0]].id)
        shown.append(f"{v.canonical} (in force from {v.effective}) [E{label}]")
        label += 1
    text = f"{' and '.join(shown)} applied {on}"
    verified = len(live) == 1
    asks_more = bool(re.search(r",?\s+and\s+(?:what|how|which|when)\b", question, re.I))
    if asks_more and len(live) == 1:
        clause = _clause(question, live[0], chunks)
        if clause is None:
            verified = False
        else:
            if clause[1].id not in ids:
                ids.append(clause[1].id)
            text += f"; it says: \"{clause[0]}\" [E{first_label + ids.index(clause[1].id)}]"
    return Computed(text + ".", ids, verified, f"the versions of {name} in force {on.split(' [')[0]}")
