"""Build a tenant's next index version from its document store.

The store (`app.core.tenants.docs_dir`) holds every document of every source: API uploads and each ingested
folder. A build is asked for by one source with the documents it changed and the ones it removed; only those are
(re)chunked or dropped. Every other document is carried from the live version as it is, so no source's ingest or
deletion touches another source's documents. The new version is recorded in SQL and swapped live atomically.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import delete, select

from app.core.db import SessionFactory
from app.core.rows import ChunkRow, DocumentRow, IndexVersionRow, TenantRow, point_tenant_at, retire_live_versions
from app.core.settings import Settings
from app.core.tenants import index_root
from ingest.chunker import ChunkConfig, chunk_file
from ingest.loaders import LoadIssue, load_file
from ingest.metadata import refresh_metadata
from ingest.records import Chunk
from ingest.vocabulary import learn_vocabulary
from retrieval.embed import DIM, Embedder
from retrieval.index import (
    build_version,
    live_version,
    load_chunks,
    load_vectors,
    load_vocabulary,
    next_version,
    prune,
    set_live,
)

log = logging.getLogger(__name__)
ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)
API_SOURCE = "api"


@dataclass
class IngestReport:
    tenant: str
    version: str | None
    unchanged: bool = False
    files_new: int = 0
    files_changed: int = 0
    files_deleted: int = 0
    files_unchanged: int = 0
    chunks_total: int = 0
    chunks_embedded: int = 0
    issues: list[str] = field(default_factory=list)
    vocabulary_changed: bool = False
    vocabulary_terms: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class Changes:
    """What one source asks of a build: ``changed`` doc id -> sha256 of its content now in the store; ``removed``
    its doc ids to drop."""

    source: str
    changed: dict[str, str] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)


@dataclass
class BuildOptions:
    embedder: Any = None
    chunk_config: ChunkConfig | None = None
    count: Callable[[str], int] | None = None
    progress: ProgressFn | None = None


def tenant_profile(settings: Settings, tenant: str) -> Path:
    """Where ``longhaul vocabulary set`` keeps the tenant's own profile (read at every ingest, before the folder's)."""
    return index_root(settings, tenant) / "vocabulary.yaml"


def _where(problem: str) -> tuple[str, int]:
    """``file:line`` of a vocabulary problem (``("vocabulary", 0)`` when it names none)."""
    head = problem.split(": ", 1)[0]
    file, _, line = head.rpartition(":")
    return (file, int(line)) if file and line.isdigit() else ("vocabulary", 0)


def _what(problem: str) -> str:
    return problem.split(": ", 1)[1] if _where(problem) != ("vocabulary", 0) else problem


def _previous(root: Path) -> tuple[dict[str, list[Chunk]], dict[str, np.ndarray]]:
    """The live version's chunks by document and vectors by chunk hash (empty when there is none)."""
    version = live_version(root)
    if version is None or not (root / version / "vectors.npy").exists():
        return {}, {}
    chunks, vectors = load_chunks(root / version), load_vectors(root / version)
    by_doc: dict[str, list[Chunk]] = {}
    for c in chunks:
        by_doc.setdefault(c.doc_id, []).append(c)
    return by_doc, {c.sha256: v for c, v in zip(chunks, vectors, strict=True)}


def known_documents(sessions: SessionFactory, tenant: str) -> dict[str, DocumentRow]:
    """The tenant's document rows by id (creating the tenant row on first use)."""
    with sessions() as s:
        if s.get(TenantRow, tenant) is None:
            s.add(TenantRow(id=tenant))
            s.commit()
        return {d.id: d for d in s.scalars(select(DocumentRow).where(DocumentRow.tenant_id == tenant))}


def _record(row: DocumentRow) -> dict[str, Any]:
    return {"sha256": row.sha256, "source": row.source, "doc_type": row.doc_type, "size_bytes": row.size_bytes,
            "n_chunks": row.n_chunks, "n_issues": row.n_issues}


def build_from_store(store: Path, tenant: str, changes: Changes, settings: Settings, sessions: SessionFactory,
                     issues: list[LoadIssue], opts: BuildOptions | None = None) -> IngestReport:
    """Apply ``changes`` to the tenant's live version and swap the result live; the caller holds the tenant lock.

    Unchanged input builds nothing and embeds nothing."""
    opts = opts or BuildOptions()
    t0 = time.perf_counter()
    report = IngestReport(tenant, None)
    on = opts.progress or (lambda stage, done, total: None)
    count = opts.count
    if count is None:
        from engine.tokenizer import load_tokenizer

        count = load_tokenizer().count
    root = index_root(settings, tenant)
    known = known_documents(sessions, tenant)
    prev_chunks, prev_vectors = _previous(root)
    current = live_version(root)
    removed = sorted(changes.removed & set(known))
    keep = sorted((set(known) - changes.removed) | set(changes.changed))
    on_disk = [rel for rel in keep if (store / rel).is_file()]

    t = time.perf_counter()
    vocab = learn_vocabulary(store, [Path(rel) for rel in on_disk], profile=tenant_profile(settings, tenant))
    old_vocab = load_vocabulary(root / current).to_json() if current else None
    report.vocabulary_changed = old_vocab != vocab.to_json()
    report.vocabulary_terms = len(vocab.terms)
    issues += [LoadIssue(*_where(p), f"vocabulary: {_what(p)}") for p in vocab.problems]
    report.seconds["vocabulary"] = time.perf_counter() - t

    def stale(rel: str) -> bool:
        row = known.get(rel)
        if current is None or row is None:
            return True
        if rel in changes.changed and row.sha256 != changes.changed[rel]:
            return True
        return row.n_chunks > 0 and rel not in prev_chunks  # its chunks are missing from the live version

    todo = [rel for rel in on_disk if stale(rel)]
    report.files_new = sum(rel not in known for rel in todo)
    report.files_changed = len(todo) - report.files_new
    report.files_deleted = len(removed)
    report.files_unchanged = sum(rel not in todo and (rel in changes.changed or known[rel].source == changes.source)
                                 for rel in keep)  # of this source
    if not todo and not removed and current is not None and not report.vocabulary_changed:
        report.version, report.unchanged = current, True
        report.issues = [str(i) for i in issues]
        report.seconds["total"] = time.perf_counter() - t0
        return report

    t = time.perf_counter()
    fresh: dict[str, list[Chunk]] = {}
    records = {rel: _record(known[rel]) for rel in keep if rel in known}
    for i, rel in enumerate(todo, start=1):
        loaded = load_file(store / rel, store)
        chunks, chunk_issues = chunk_file(loaded, count, opts.chunk_config, vocab)
        fresh[rel] = chunks
        issues += loaded.issues + chunk_issues
        owner = known[rel].source if rel in known and rel not in changes.changed else changes.source
        records[rel] = {"sha256": loaded.document.sha256, "source": owner,
                        "doc_type": chunks[0].metadata["doc_type"] if chunks else "text",
                        "size_bytes": loaded.document.size_bytes, "n_chunks": len(chunks),
                        "n_issues": len(loaded.issues) + len(chunk_issues)}
        on("chunk", i, len(todo))
    report.seconds["load_chunk"] = time.perf_counter() - t

    def carried(rel: str) -> list[Chunk]:
        old = prev_chunks.get(rel, [])
        return [refresh_metadata(c, vocab) for c in old] if report.vocabulary_changed else old

    all_chunks = [c for rel in keep for c in (fresh[rel] if rel in fresh else carried(rel))]
    missing = list(dict.fromkeys(c.sha256 for c in all_chunks if c.sha256 not in prev_vectors))
    by_sha = {c.sha256: c.text for c in all_chunks}
    t = time.perf_counter()
    vectors_new = np.zeros((0, DIM), dtype=np.float32)
    if missing:
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done += n
            on("embed", done, len(missing))

        embedder = opts.embedder or Embedder()
        if hasattr(embedder, "load"):
            embedder.load()
            report.seconds["model_load"] = time.perf_counter() - t
            t = time.perf_counter()
        vectors_new = embedder.encode([by_sha[h] for h in missing], progress=tick)
    report.seconds["embed"] = time.perf_counter() - t
    lookup = {**prev_vectors, **dict(zip(missing, vectors_new, strict=True))}
    vectors = np.stack([lookup[c.sha256] for c in all_chunks]) if all_chunks else np.zeros((0, DIM), np.float32)

    t = time.perf_counter()
    version = next_version(root)
    on("index", 0, 1)
    vdir = build_version(root, version, all_chunks, vectors, vocab, documents=records)
    on("index", 1, 1)
    report.seconds["index"] = time.perf_counter() - t

    t = time.perf_counter()
    with sessions() as s, s.begin():
        gone = [*removed, *(rel for rel in todo if rel in known)]
        if gone:
            s.execute(delete(ChunkRow).where(ChunkRow.tenant_id == tenant, ChunkRow.doc_id.in_(gone)))
            s.execute(delete(DocumentRow).where(DocumentRow.tenant_id == tenant, DocumentRow.id.in_(gone)))
        s.flush()
        s.add_all(DocumentRow(tenant_id=tenant, id=rel, **records[rel]) for rel in todo)
        s.flush()
        s.add_all(ChunkRow(tenant_id=tenant, id=c.id, doc_id=c.doc_id, source=c.source, text=c.text,
                           sha256=c.sha256, n_tokens=c.n_tokens, meta=c.metadata)
                  for rel in todo for c in fresh[rel])
        retire_live_versions(s, tenant)
        s.add(IndexVersionRow(tenant_id=tenant, version=version, path=str(vdir), status="live",
                              n_chunks=len(all_chunks), n_embedded=len(missing)))
        point_tenant_at(s, tenant, version)
        set_live(root, version)  # the atomic swap; the SQL commit follows in the same block
    prune(root, keep=settings.index_keep_versions)
    report.seconds["sql"] = time.perf_counter() - t
    report.version = version
    report.chunks_total = len(all_chunks)
    report.chunks_embedded = len(missing)
    report.issues = [str(i) for i in issues]
    report.seconds["total"] = time.perf_counter() - t0
    return report
