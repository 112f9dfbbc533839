"""When no draft could be verified: the one sentence of the evidence that best matches the question, quoted with its
citation and marked as a quote, rather than only a timeline. A small model often misses a fact a note states
plainly ("Returned wireless earbuds ... opened at the bench: dead pixel cluster.").

Sentences come only from records about the question's subject (`packing.subjects.may_support`); each is scored
by the question's content words it shares, weighted by how rare each word is among the evidence's sentences; at
least two distinct words must match, or one long word that no other sentence of the evidence has.
"""

from __future__ import annotations

import math
import re
from collections import Counter

from packing.claims import EntitiesLike
from packing.packer import Packed, PackedEvidence
from packing.subjects import may_support

_WORD = re.compile(r"[a-z][a-z\-]{3,}")
_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
_STOP = set("""what which when where were with that this those these there their from into have been came back
does about would could should after before during order orders customer said says warehouse warehouses site sites
facility hub notes note shift""".split())
_NAME = re.compile(r"(?<![.?!]\s)(?<!^)\b[A-Z][a-z]+")  # a capitalised word inside the question: a name
MIN_WORDS = 2
RARE_WORD_LEN = 6


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def best_quote(question: str, packed: Packed, entities: EntitiesLike = ()) -> tuple[str, PackedEvidence] | None:
    """``(sentence, record)`` of the evidence sentence sharing the most (rarity-weighted) question words, or None."""
    names = {n.lower() for n in _NAME.findall(question)}  # the site or carrier: the subject rule scopes by those
    asked = _words(question) - names
    sentences = [(s.strip(), p) for p in packed.evidence if may_support(p.evidence.text, question, "", entities)
                 for s in _SPLIT.split(p.evidence.text) if len(s.strip()) > 20]
    if not asked or not sentences:
        return None
    df = Counter(w for s, _ in sentences for w in _words(s) & asked)
    best: tuple[float, str, PackedEvidence] | None = None
    for s, p in sentences:
        shared = _words(s) & asked
        # two words, or one long word no other sentence shares ("e-reader", "smartwatch": the thing asked about)
        if len(shared) < MIN_WORDS and not (shared and all(df[w] == 1 and len(w) >= RARE_WORD_LEN for w in shared)):
            continue
        score = sum(math.log(1 + len(sentences) / df[w]) for w in shared)
        if best is None or score > best[0]:
            best = (score, s, p)
    return (best[1], best[2]) if best else None


def quoted_answer(question: str, packed: Packed, entities: EntitiesLike = ()) -> tuple[str, PackedEvidence] | None:
    """The quote as an answer: 'The closest record says: "..." [E3] (a quote, not a verified answer).'"""
    found = best_quote(question, packed, entities)
    if found is None:
        return None
    sentence, p = found
    return f'The closest record says: "{sentence}" [{p.label}] (a quote, not a verified answer).', p
