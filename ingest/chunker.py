"""Structure-aware chunking: related units (rows of one order, events of one shipment, paragraphs of one section)
packed into chunks of at most ``max_tokens`` engine tokens, never splitting a unit unless it alone is too long."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingest.loaders import LoadedFile, LoadIssue, Unit
from ingest.metadata import extract_metadata
from ingest.records import Chunk

if TYPE_CHECKING:
    from ingest.vocabulary import Vocabulary

CountFn = Callable[[str], int]


@dataclass(frozen=True)
class ChunkConfig:
    """``max_tokens`` counts the engine tokenizer's tokens of the whole chunk text, context included."""

    max_tokens: int = 256

    def __post_init__(self) -> None:
        if self.max_tokens < 16:
            raise ValueError(f"max_tokens={self.max_tokens} is too small: use at least 16 (default 256)")


def _groups(loaded: LoadedFile) -> list[list[Unit]]:
    by_key: dict[str, list[Unit]] = {}
    for u in loaded.units:
        by_key.setdefault(u.group, []).append(u)
    groups = list(by_key.values())
    if loaded.kind == "log":  # a shipment's events in time order (ISO timestamps sort as strings)
        groups = [sorted(g, key=lambda u: (u.timestamp or "", u.line)) for g in groups]
    return groups


def _split_long(unit: Unit, budget: int, count: CountFn) -> list[Unit]:
    """Cut one over-long unit at whitespace into pieces of at most ``budget`` tokens (nothing dropped)."""
    pieces, rest = [], unit.text
    while rest:
        n = count(rest)
        if n <= budget:
            pieces.append(rest)
            break
        cut = max(1, int(len(rest) * budget / n * 0.9))
        while True:
            space = rest.rfind(" ", 0, cut)
            at = space if space > 0 else cut
            if count(rest[:at]) <= budget or at <= 1:
                break
            cut = int(at * 0.8)
        pieces.append(rest[:at])
        rest = rest[at:].lstrip(" ")
    return [Unit(p, unit.line, unit.line_end, unit.group, unit.context, unit.timestamp, unit.fields) for p in pieces]


def chunk_file(
    loaded: LoadedFile, count: CountFn, config: ChunkConfig | None = None, vocab: Vocabulary | None = None
) -> tuple[list[Chunk], list[LoadIssue]]:
    """Chunks of one loaded file, in file order of their groups; over-long units are split and reported.

    Parameters
    ----------
    loaded
        The output of `ingest.loaders.load_file`.
    count
        Token counter of the engine tokenizer (``engine.tokenizer.load_tokenizer().count``).
    vocab
        The tenant's vocabulary (`ingest.vocabulary.learn_vocabulary`): metadata lists its mentions' canonical
        values; without one, the built-in names.
    """
    cfg = config or ChunkConfig()
    doc = loaded.document
    issues: list[LoadIssue] = []
    chunks: list[Chunk] = []

    def emit(units: list[Unit]) -> None:
        context = units[0].context
        text = "\n".join([context, *(u.text for u in units)] if context else [u.text for u in units])
        stamps = sorted(u.timestamp for u in units if u.timestamp)
        fields = {k: v for u in units for k, v in u.fields.items()}
        meta = extract_metadata(text, doc.doc_type, stamps[0] if stamps else None, fields, vocab)
        first, last = min(u.line for u in units), max(u.line_end for u in units)
        chunks.append(
            Chunk(
                id=f"{doc.id}#{len(chunks)}",
                doc_id=doc.id,
                source=f"{doc.id}:{first}-{last}",
                text=text,
                sha256=hashlib.sha256(text.encode()).hexdigest(),
                n_tokens=count(text),
                metadata=meta,
            )
        )

    for group in _groups(loaded):
        context = group[0].context
        budget = cfg.max_tokens - (count(context) + 1 if context else 0)
        if budget < 8:
            raise ValueError(f"{doc.id}: the context {context[:60]!r} leaves no room in max_tokens={cfg.max_tokens}")
        current: list[Unit] = []
        used = 0
        for unit in group:
            n = count(unit.text) + 1  # +1 for the joining newline
            parts = [unit]
            if n > budget:
                parts = _split_long(unit, budget - 1, count)
                issues.append(
                    LoadIssue(doc.id, unit.line, f"line of {n - 1} tokens exceeds max_tokens: split into {len(parts)}")
                )
            for part in parts:
                n = count(part.text) + 1
                if current and used + n > budget:
                    emit(current)
                    current, used = [], 0
                current.append(part)
                used += n
        if current:
            emit(current)
    return chunks, issues
