"""Records linked across files by the ids they share: an order, a tracking number, an RMA.

`build_links` reads what each chunk names (the vocabulary's mentions of the link kinds); `Links.linked` follows
shared ids breadth-first, so from an order's manifest row (order + tracking) one hop reaches the scans that name
only the tracking number, and from an RMA record (order) two hops reach them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ingest.records import Chunk
from ingest.vocab_model import Vocabulary

LINK_KINDS = ("order", "tracking", "rma")
MAX_FANOUT = 200  # an id named by more chunks than this (a code, not an id) links nothing


@dataclass
class Links:
    """What each chunk names, by kind, and the inverse: which chunks name a ``(kind, value)``."""

    names: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # chunk id -> kind -> values
    naming: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (kind, value) -> chunk ids

    def about(self, kind: str, value: str) -> list[str]:
        """Chunks that name ``value`` as a ``kind``, in ingest order."""
        return list(self.naming.get((kind, value), []))

    def linked(self, chunk_id: str, hops: int = 2) -> list[str]:
        """Chunks reachable from ``chunk_id`` through shared ids in at most ``hops`` steps, nearest first
        (``chunk_id`` itself excluded); ids named by more than `MAX_FANOUT` chunks are not followed."""
        if hops < 0:
            raise ValueError(f"hops={hops}: use 0 or more")
        seen = {chunk_id}
        frontier, out = [chunk_id], []
        for _ in range(hops):
            nxt = []
            for cid in frontier:
                for kind, values in self.names.get(cid, {}).items():
                    for value in values:
                        holders = self.naming.get((kind, value), [])
                        if len(holders) > MAX_FANOUT:
                            continue
                        for other in holders:
                            if other not in seen:
                                seen.add(other)
                                nxt.append(other)
            out += nxt
            frontier = nxt
        return out

    def to_json(self) -> dict[str, Any]:
        return {"names": self.names}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Links:
        links = cls()
        for cid, by_kind in data.get("names", {}).items():
            links._add(cid, {k: list(v) for k, v in by_kind.items()})
        return links

    def _add(self, chunk_id: str, by_kind: dict[str, list[str]]) -> None:
        if not by_kind:
            return
        self.names[chunk_id] = by_kind
        for kind, values in by_kind.items():
            for value in values:
                self.naming.setdefault((kind, value), []).append(chunk_id)


def build_links(chunks: Iterable[Chunk], vocab: Vocabulary, kinds: tuple[str, ...] = LINK_KINDS) -> Links:
    """Links between ``chunks`` through the ids of ``kinds`` that the vocabulary finds in their text."""
    links = Links()
    for chunk in chunks:
        found: dict[str, set[str]] = defaultdict(set)
        for m in vocab.mentions(chunk.text):
            if m.kind in kinds:
                found[m.kind].add(m.canonical)
        links._add(chunk.id, {k: sorted(v) for k, v in sorted(found.items())})
    return links
