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
HEAD_CHARS_PER_TOKEN = 64  # a unit longer than budget * this is first counted by its head (no token is that long)
SHORT_CHARS_PER_TOKEN = 16  # a unit up to budget * this is cut as before (same chunks), longer ones in linear time


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


def _tokens(text: str, budget: int, count: CountFn) -> int | None:
    """``count(text)``, or None when a prefix already exceeds ``budget`` (a huge unit is never counted whole)."""
    cap = budget * HEAD_CHARS_PER_TOKEN
    if len(text) > cap and count(text[:cap]) > budget:
        return None
    return count(text)


def _split_short(text: str, budget: int, count: CountFn) -> list[str]:
    """The cuts of a unit of a few thousand characters, as they always were (re-counts the rest at each cut)."""
    pieces, rest = [], text
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
    return pieces


def _split_long(unit: Unit, budget: int, count: CountFn) -> list[tuple[Unit, int]]:
    """Cut one over-long unit at whitespace into pieces of at most ``budget`` tokens (nothing but the spaces at the
    cuts dropped); each piece with its token count.

    Linear in the unit's length: each piece is sized from the characters per token seen so far and only the piece
    is counted (a text of several MB would otherwise be re-tokenized at every cut)."""
    text, pieces, pos = unit.text, [], 0
    if len(text) <= budget * SHORT_CHARS_PER_TOKEN:
        pieces = [(p, count(p)) for p in _split_short(text, budget, count)]
        pos = len(text)
    chars_per_token = 4.0
    while pos < len(text):
        size = max(1, int(budget * chars_per_token * 0.9))
        while True:
            at = end = min(len(text), pos + size)
            if end < len(text):
                space = text.rfind(" ", pos + 1, end + 1)
                at = space if space > pos else end
            n = count(text[pos:at])
            if n <= budget or at - pos <= 1:
                break
            size = max(1, min(at - pos - 1, int((at - pos) * budget / n * 0.9)))
        pieces.append((text[pos:at], n))
        chars_per_token = max(0.25, (at - pos) / max(n, 1))
        pos = at
        while pos < len(text) and text[pos] == " ":
            pos += 1
    return [(Unit(p, unit.line, unit.line_end, unit.group, unit.context, unit.timestamp, unit.fields), n)
            for p, n in pieces]


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

    def emit(units: list[Unit], n_tokens: int | None = None) -> None:
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
                n_tokens=n_tokens if n_tokens is not None and len(units) == 1 and not context else count(text),
                metadata=meta,
            )
        )

    for group in _groups(loaded):
        context = group[0].context
        budget = cfg.max_tokens - (count(context) + 1 if context else 0)
        if budget < 8:
            raise ValueError(f"{doc.id}: the context {context[:60]!r} leaves no room in max_tokens={cfg.max_tokens}")
        current: list[Unit] = []
        used, alone = 0, None  # alone: the token count of `current` when it is one unit
        for unit in group:
            n = _tokens(unit.text, budget, count)
            if n is not None and n + 1 <= budget:  # +1 for the joining newline
                parts = [(unit, n)]
            else:
                parts = _split_long(unit, budget - 1, count)
                size = n if n is not None else f"~{sum(k for _, k in parts)}"
                issues.append(
                    LoadIssue(doc.id, unit.line, f"line of {size} tokens exceeds max_tokens: split into {len(parts)}")
                )
            for part, k in parts:
                if current and used + k + 1 > budget:
                    emit(current, alone)
                    current, used = [], 0
                current.append(part)
                used += k + 1
                alone = k if len(current) == 1 else None
        if current:
            emit(current, alone)
    return chunks, issues
