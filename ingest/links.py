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
MAX_IDS = 8  # a chunk naming more link ids than this (a digest of many orders) is not followed through


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

    def related(self, seeds: dict[str, list[str]], hops: int = 2) -> dict[str, set[str]]:
        """Ids reachable from ``seeds`` (kind -> values) through the chunks that name them, at most ``hops`` chunk
        steps away (the seeds excluded): an order's tracking numbers and RMA ids, an RMA's return tracking number.
        Ids named by more than `MAX_FANOUT` chunks and chunks naming more than `MAX_IDS` ids are not followed."""
        seen = {(k, v) for k, vs in seeds.items() for v in vs}
        frontier, done_chunks = list(seen), set()
        for _ in range(hops):
            nxt: list[tuple[str, str]] = []
            for key in frontier:
                holders = self.naming.get(key, [])
                if len(holders) > MAX_FANOUT:
                    continue
                for cid in holders:
                    if cid in done_chunks:
                        continue
                    done_chunks.add(cid)
                    names = self.names.get(cid, {})
                    if sum(len(v) for v in names.values()) > MAX_IDS:
                        continue
                    for kind, values in names.items():
                        for value in values:
                            if (kind, value) not in seen:
                                seen.add((kind, value))
                                nxt.append((kind, value))
            frontier = nxt
        out: dict[str, set[str]] = defaultdict(set)
        seeds_set = {(k, v) for k, vs in seeds.items() for v in vs}
        for kind, value in seen - seeds_set:
            out[kind].add(value)
        return dict(out)

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


def links_from_metadata(chunks: Iterable[Chunk], keys: dict[str, str]) -> Links:
    """Links from what ingest already extracted: ``keys`` maps a link kind to its metadata list
    (``{"order": "order_ids", ...}``); no text is scanned again."""
    links = Links()
    for chunk in chunks:
        by_kind = {k: list(chunk.metadata.get(key) or []) for k, key in keys.items()}
        links._add(chunk.id, {k: v for k, v in by_kind.items() if v})
    return links
