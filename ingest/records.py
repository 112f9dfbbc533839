"""Record types that flow from ingestion into retrieval and packing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """One source file of a tenant's history.

    ``id`` is the path relative to the ingested directory (``"scans/scans_2021_03.log"``); ``sha256`` is the
    content hash used for incremental ingest.
    """

    id: str
    path: str
    sha256: str
    doc_type: str
    size_bytes: int


@dataclass(frozen=True)
class Chunk:
    """A unit of evidence: one record or a group of related lines, never a split event.

    ``id`` is stable across re-ingests of the same content (``"<doc id>#<ordinal>"``); ``source`` is
    ``"<doc id>:<first line>-<last line>"`` so a citation points at the file and lines.
    ``metadata`` holds what the extractor found: ``order_ids``, ``skus``, ``carriers``, ``fcs``, ``dates``,
    ``exception_codes``, ``doc_type``, ``timestamp`` (ISO, optional).
    """

    id: str
    doc_id: str
    source: str
    text: str
    sha256: str
    n_tokens: int
    metadata: dict[str, Any] = field(default_factory=dict)
