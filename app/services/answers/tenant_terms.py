"""What the answer stages read of a tenant's vocabulary: the verifier's `Lexicon` and the question's hard
constraints, both built from the `Vocabulary` the index version was learned with (never from built-in names).

packing/ does not import ingest, so the app turns the vocabulary into packing's `Lexicon` here: each known id
(an order, SKU, tracking number, RMA, code) with its claim kind, the id patterns, and every named entity (a carrier,
a facility, a policy) with its names and codes.
"""

from __future__ import annotations

import re

from ingest.vocab_model import KIND_KEYS, Vocabulary
from packing.claims import Lexicon
from retrieval.query import ISO_DATE_RE, analyze

# vocabulary kind -> the claim kind packing checks it as (named kinds become entities)
CLAIM_KINDS = {"order": "order_id", "sku": "sku", "tracking": "tracking", "rma": "rma", "code": "code"}
NAMED_KINDS = ("carrier", "facility", "policy")


def lexicon_of(vocab: Vocabulary) -> Lexicon:
    """The verifier's view of ``vocab`` (build it once per index version and keep it: claims are cached by it)."""
    ids = {t.canonical: CLAIM_KINDS[t.kind] for t in vocab.terms.values() if t.kind in CLAIM_KINDS}
    patterns = tuple((CLAIM_KINDS[p.kind], re.compile(p.regex)) for p in vocab.patterns if p.kind in CLAIM_KINDS)
    names = tuple((t.canonical, tuple(dict.fromkeys(t.synonyms)), (t.canonical,))
                  for t in vocab.terms.values() if t.kind in NAMED_KINDS)
    places = frozenset(t.canonical for t in vocab.terms.values() if t.kind == "facility")
    return Lexicon(ids=ids, patterns=patterns, names=names, places=places)


def constraints_of(question: str, vocab: Vocabulary) -> list[str]:
    """Hard constraints the question states, to restate at both ends of the prompt: the ids it names (orders,
    RMAs, tracking numbers, SKUs, as the tenant writes them) and its ISO dates."""
    a = analyze(question, vocab)
    out = [f"order {v}" for v in a.key(KIND_KEYS["order"])]
    out += [v for key in ("rma", "tracking", "sku") for v in a.key(KIND_KEYS[key])]
    out += ["-".join(m) for m in ISO_DATE_RE.findall(question)]
    return list(dict.fromkeys(out))
