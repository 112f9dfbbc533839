"""Metadata extracted from a chunk's text: the keys a support question names (orders, SKUs, carriers, FCs, dates)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ingest.vocab_model import KIND_KEYS, Vocabulary

DATE_RE = re.compile(r"(?<!\d)(20\d{2})-(\d{2})-(\d{2})(?!\d)")
ISO_TS_RE = re.compile(r"\b20\d{2}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2})?Z?)?\b")
META_KEYS = ("order_ids", "skus", "carriers", "fcs", "dates", "exception_codes", "policies")
VOCAB_META_KEYS = tuple(dict.fromkeys([*META_KEYS, *KIND_KEYS.values()]))
_NO_VOCABULARY = Vocabulary()

if TYPE_CHECKING:
    from ingest.records import Chunk


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

    Returns a dict with one sorted, unique list per metadata key (`VOCAB_META_KEYS`: `KIND_KEYS` says which list
    each vocabulary kind's canonical values go to, ``dates`` holds the ISO dates), ``doc_type`` and ``timestamp``
    (``None`` when the text carries no date). Without ``vocab`` only dates are found: ids, codes and names are
    the tenant's own, learned at ingest (`ingest.vocabulary.learn_vocabulary`).
    """
    fields = fields or {}
    if timestamp is None:
        stamps = ISO_TS_RE.findall(text)
        timestamp = min(stamps) if stamps else None
    meta: dict[str, Any] = {
        **_vocab_lists(text, vocab or _NO_VOCABULARY),
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
