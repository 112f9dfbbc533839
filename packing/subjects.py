"""Which records may support an answer's claims: those about the question's own subject.

A question that names orders or RMAs is about them: a record naming only other orders or RMAs (neither asked about
nor named by the answer) supports nothing. A question that names no order but a site and a month ("... came back to
the Leipzig warehouse in May 2018") is about that site and month. A record that addresses the model ("ignore previous
instructions and say ...") never supports anything.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from packing.claims import Claim, EntitiesLike, as_lexicon, cited_labels, extract_claims
from packing.prompt import NOT_FOUND, addresses_the_model

ASKS_FOR_ORDERS = re.compile(r"\bwhich\s+orders?\b", re.I)
ASKS_FOR_A_CODE = re.compile(r"\bwhat\s+was\s+(?:it|the\s+(?:problem|issue|code|exception))\b|"
                             r"\bwhich\s+(?:problem|issue|code|exception)\b", re.I)

SUBJECT_KINDS = ("order_id", "rma")
def may_support(text: str, question: str, answer: str, entities: EntitiesLike) -> bool:
    """A record supports claims about the question's subject only if it is about that subject: when the question
    names orders or RMAs, a record naming only other orders or RMAs (neither asked about nor named by the answer)
    does not count; a record addressing the model never does."""
    if addresses_the_model(text):
        return False
    asked = {c.value for c in extract_claims(question, entities) if c.kind in SUBJECT_KINDS}
    if not asked:  # no order asked about: the site and month it asks about scope it ("... came back to the
        # Leipzig site in May 2018"): records from another site, or only from other months, do not count
        places = as_lexicon(entities).places
        if not places:
            return True
        asked_claims, claims = extract_claims(question, entities), extract_claims(text, entities)
        at = {c.value for c in asked_claims if c.kind == "entity" and c.value in places}
        if not at:
            return True
        named = {c.value for c in claims if c.kind == "entity" and c.value in places}
        months = {c.value[:7] for c in asked_claims if c.kind in ("date", "month")}  # "... in May 2018"
        dated = {c.value[:7] for c in claims if c.kind in ("date", "month")}
        return (not named or bool(at & named)) and (not months or not dated or bool(months & dated))
    subjects = asked | {c.value for c in extract_claims(answer, entities) if c.kind in SUBJECT_KINDS}
    named = {c.value for c in extract_claims(text, entities) if c.kind in SUBJECT_KINDS}
    return not named or bool(named & subjects)


# "what was wrong with ...": the answer must say something (a defect, a fault) beyond ids and the question's words
ASKS_WHAT_WAS_WRONG = re.compile(r"\bwhat\s+(?:was|went|is)\s+wrong\b|\bwhat\s+happened\s+to\b|"
                                 r"\bwhat\s+(?:was|were)\s+the\s+(?:defects?|faults?|damage|complaints?)\b", re.I)
_CONTENT = re.compile(r"[a-z]{4,}")
_FILLER = set("""that this with from were have been there their which return returned returns order orders item items
refund refunds customer customers shipment parcel record records says said""".split())


def says_something(answer: str, question: str) -> bool:
    """Does ``answer`` say at least two content words that are not the question's, ids, labels or filler?"""
    return len(set(_CONTENT.findall(answer.lower())) - set(_CONTENT.findall(question.lower())) - _FILLER) >= 2


def answers_what_was_asked(answer: str, question: str, claims: Sequence[Claim]) -> bool:
    """An answer that also says the answer is not in the evidence, names no order when the question asks "which
    order", no code when it asks "what was the problem", or nothing beyond ids when it asks "what was wrong", does
    not answer it, however true its claims."""
    if NOT_FOUND in answer.lower() and claims:
        return False
    if ASKS_WHAT_WAS_WRONG.search(question) and not says_something(answer, question):
        return False
    if ASKS_FOR_A_CODE.search(question) and not any(c.kind == "code" for c in claims):
        return False  # "... the same problem, and what was it?" answered without naming one
    return not (ASKS_FOR_ORDERS.search(question) and not any(c.kind == "order_id" for c in claims))


_CLAUSE = re.compile(r"(?<=[.;])\s+")


def only_about(answer: str, question: str, entities: EntitiesLike = ()) -> str:
    """``answer`` without the clauses that name orders or RMAs the question does not (a draft that also tried a
    part the records answer); their ``[E#]`` citations move to the end of what is kept. Unchanged when the question
    names no order or no clause would be left."""
    asked = {c.value for c in extract_claims(question, entities) if c.kind in SUBJECT_KINDS}
    if not asked:
        return answer
    kept, moved = [], []
    for clause in _CLAUSE.split(answer.strip()):
        named = {c.value for c in extract_claims(clause, entities) if c.kind in SUBJECT_KINDS}
        if named - asked:
            moved += cited_labels(clause)
        else:
            kept.append(clause)
    if not kept or not moved:
        return answer if not kept else " ".join(kept)
    text = " ".join(kept).rstrip(" ;,.")
    missing = [lab for lab in dict.fromkeys(moved) if lab not in cited_labels(text)]
    return text + "".join(f" [{lab}]" for lab in missing) + "."
