"""Metadata extracted from a chunk's text: the keys a support question names (orders, SKUs, carriers, FCs, dates)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ingest.domain import CARRIERS, EXCEPTION_RE, FC_RE, FULFILLMENT_CENTERS, ORDER_ID_RE, POLICY_RE, SKU_RE

CARRIER_CODE_RE = re.compile(r"\b(" + "|".join(c.code for c in CARRIERS) + r")(?=\b|\d)")
_CARRIER_NAMES = sorted(
    ((n.lower(), c.code) for c in CARRIERS for n in (c.name, *c.synonyms)), key=lambda t: -len(t[0])
)
_FC_NAMES = sorted(((fc.city.lower(), fc.code) for fc in FULFILLMENT_CENTERS), key=lambda t: -len(t[0]))
CARRIER_NAME_RE = re.compile(r"\b(" + "|".join(re.escape(n) for n, _ in _CARRIER_NAMES) + r")\b", re.IGNORECASE)
FC_NAME_RE = re.compile(r"\b(" + "|".join(re.escape(n) for n, _ in _FC_NAMES) + r")\b", re.IGNORECASE)
_CARRIER_BY_NAME = dict(_CARRIER_NAMES)
_FC_BY_NAME = dict(_FC_NAMES)
DATE_RE = re.compile(r"(?<!\d)(20\d{2})-(\d{2})-(\d{2})(?!\d)")
ISO_TS_RE = re.compile(r"\b20\d{2}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2})?Z?)?\b")
HUB_RE = re.compile(r"\bHUB-([A-Z]{3})\b")  # scan locations name the FC's hub by its first three letters
_FC_BY_HUB = {fc.code[:3]: fc.code for fc in FULFILLMENT_CENTERS}
META_KEYS = ("order_ids", "skus", "carriers", "fcs", "dates", "exception_codes", "policies")
# with a vocabulary: the list each kind's canonical values go to (the id kinds beyond META_KEYS get their own)
KIND_KEYS = {
    "order": "order_ids",
    "sku": "skus",
    "carrier": "carriers",
    "facility": "fcs",
    "code": "exception_codes",
    "policy": "policies",
    "tracking": "tracking_numbers",
    "rma": "rma_ids",
    "person": "people",
}
VOCAB_META_KEYS = tuple(dict.fromkeys([*META_KEYS, *KIND_KEYS.values()]))

if TYPE_CHECKING:
    from ingest.records import Chunk
    from ingest.vocabulary import Vocabulary


def _uniq(items: list[str]) -> list[str]:
    return sorted(set(items))


def _vocab_lists(text: str, vocab: Vocabulary) -> dict[str, list[str]]:
    found: dict[str, set[str]] = {key: set() for key in VOCAB_META_KEYS}
    for m in vocab.mentions(text):
        found[KIND_KEYS[m.kind]].add(m.canonical)
    found["dates"] = {"-".join(m.groups()) for m in DATE_RE.finditer(text)}
    return {key: sorted(values) for key, values in found.items()}


def extract_metadata(
    text: str,
    doc_type: str,
    timestamp: str | None = None,
    fields: dict[str, Any] | None = None,
    vocab: Vocabulary | None = None,
) -> dict[str, Any]:
    """Keys found in ``text`` plus the chunk's ``doc_type`` and ``timestamp`` (ISO, the earliest one known).

    Returns a dict with the list fields of `META_KEYS` (sorted, unique; order ids keep their ``#``), ``doc_type``
    and ``timestamp`` (``None`` when the text carries no date). With ``vocab`` the lists hold the canonical values
    of its mentions (`KIND_KEYS` says which list a kind goes to; `VOCAB_META_KEYS` are all of them) instead of the
    built-in names.
    """
    fields = fields or {}
    if timestamp is None:
        stamps = ISO_TS_RE.findall(text)
        timestamp = min(stamps) if stamps else None
    if vocab is not None:
        meta: dict[str, Any] = {
            **_vocab_lists(text, vocab),
            "doc_type": str(fields.get("doc_type") or doc_type),
            "timestamp": timestamp,
        }
        if fields.get("record_id"):
            meta["record_id"] = fields["record_id"]
        return meta
    carriers = [m.group(1) for m in CARRIER_CODE_RE.finditer(text)]
    carriers += [_CARRIER_BY_NAME[m.group(1).lower()] for m in CARRIER_NAME_RE.finditer(text)]
    fcs = [m.group(1) for m in FC_RE.finditer(text)] + [
        _FC_BY_NAME[m.group(1).lower()] for m in FC_NAME_RE.finditer(text)
    ]
    fcs += [_FC_BY_HUB[h] for h in HUB_RE.findall(text) if h in _FC_BY_HUB]
    dates = ["-".join(m.groups()) for m in DATE_RE.finditer(text)]
    meta = {
        "order_ids": _uniq([m.group(0) for m in ORDER_ID_RE.finditer(text)]),
        "skus": _uniq([m.group(0) for m in SKU_RE.finditer(text)]),
        "carriers": _uniq(carriers),
        "fcs": _uniq(fcs),
        "dates": _uniq(dates),
        "exception_codes": _uniq(EXCEPTION_RE.findall(text)),
        "policies": _uniq(POLICY_RE.findall(text)),
        "doc_type": str(fields.get("doc_type") or doc_type),
        "timestamp": timestamp,
    }
    if fields.get("record_id"):
        meta["record_id"] = fields["record_id"]
    return meta


def refresh_metadata(chunk: Chunk, vocab: Vocabulary) -> Chunk:
    """``chunk`` with its metadata lists re-extracted under ``vocab`` (doc type, timestamp and record id kept):
    an unchanged file's chunks follow a vocabulary that changed without being chunked or embedded again."""
    from dataclasses import replace

    m = chunk.metadata
    fields = {"record_id": m["record_id"]} if m.get("record_id") else {}
    meta = extract_metadata(chunk.text, str(m.get("doc_type", "text")), m.get("timestamp"), fields, vocab)
    return replace(chunk, metadata=meta)
