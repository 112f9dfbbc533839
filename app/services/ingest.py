"""Incremental ingest of a directory into a tenant: new/changed/deleted files by content hash, a new index version
built on disk (re-embedding only chunks whose text is new), recorded in SQL, then swapped live atomically."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import delete, select

from app.core.db import SessionFactory
from app.core.rows import ChunkRow, DocumentRow, IndexVersionRow, TenantRow, point_tenant_at, retire_live_versions
from app.core.settings import Settings
from app.core.tenants import check_tenant, index_root
from ingest.chunker import ChunkConfig, chunk_file
from ingest.loaders import LoadIssue, discover, load_file, sha256_bytes
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


def ingest_directory(
    path: str | Path,
    tenant: str,
    settings: Settings,
    sessions: SessionFactory,
    *,
    embedder: Embedder | None = None,
    chunk_config: ChunkConfig | None = None,
    count: Callable[[str], int] | None = None,
    progress: ProgressFn | None = None,
) -> IngestReport:
    """Ingest ``path`` into ``tenant``, recording it through ``sessions``; an unchanged directory builds nothing and
    embeds nothing."""
    t0 = time.perf_counter()
    check_tenant(tenant)
    root_dir = Path(path)
    files, issues = discover(root_dir)
    report = IngestReport(tenant, None)
    on = progress or (lambda stage, done, total: None)
    if count is None:
        from engine.tokenizer import load_tokenizer

        count = load_tokenizer().count
    root = index_root(settings, tenant)
    with sessions() as s:
        if s.get(TenantRow, tenant) is None:
            s.add(TenantRow(id=tenant))
            s.commit()
        known = {d.id: d.sha256 for d in s.scalars(select(DocumentRow).where(DocumentRow.tenant_id == tenant))}
    prev_chunks, prev_vectors = _previous(root)

    shas: dict[str, str] = {}
    seen: dict[str, str] = {}
    for p in files:
        rel = p.relative_to(root_dir).as_posix()
        sha = sha256_bytes(p.read_bytes())
        if sha in seen:
            issues.append(LoadIssue(rel, 0, f"same content as {seen[sha]}: skipped (content-hash dedupe)"))
            continue
        seen[sha], shas[rel] = rel, sha
    t = time.perf_counter()
    vocab = learn_vocabulary(root_dir, [Path(rel) for rel in sorted(shas)], profile=tenant_profile(settings, tenant))
    current = live_version(root)
    old_vocab = load_vocabulary(root / current).to_json() if current else None
    report.vocabulary_changed = old_vocab != vocab.to_json()
    report.vocabulary_terms = len(vocab.terms)
    issues += [LoadIssue(*_where(p), f"vocabulary: {_what(p)}") for p in vocab.problems]
    report.seconds["vocabulary"] = time.perf_counter() - t
    have_live = bool(prev_vectors) or current is not None
    todo = [rel for rel, sha in shas.items() if not have_live or known.get(rel) != sha]
    deleted = sorted(set(known) - set(shas))
    report.files_new = sum(rel not in known for rel in todo)
    report.files_changed = len(todo) - report.files_new
    report.files_deleted = len(deleted)
    report.files_unchanged = len(shas) - len(todo)
    if not todo and not deleted and current is not None and not report.vocabulary_changed:
        report.version, report.unchanged = current, True
        report.issues = [str(i) for i in issues]
        report.seconds["total"] = time.perf_counter() - t0
        return report

    t = time.perf_counter()
    fresh: dict[str, list[Chunk]] = {}
    n_issues: dict[str, int] = {}
    for i, rel in enumerate(todo, start=1):
        loaded = load_file(root_dir / rel, root_dir)
        chunks, chunk_issues = chunk_file(loaded, count, chunk_config, vocab)
        fresh[rel] = chunks
        n_issues[rel] = len(loaded.issues) + len(chunk_issues)
        issues += loaded.issues + chunk_issues
        on("chunk", i, len(todo))
    report.seconds["load_chunk"] = time.perf_counter() - t

    def carried(rel: str) -> list[Chunk]:
        old = prev_chunks.get(rel, [])
        return [refresh_metadata(c, vocab) for c in old] if report.vocabulary_changed else old

    all_chunks = [c for rel in sorted(shas) for c in (fresh[rel] if rel in fresh else carried(rel))]
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

        embedder = embedder or Embedder()
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
    vdir = build_version(root, version, all_chunks, vectors, vocab)
    on("index", 1, 1)
    report.seconds["index"] = time.perf_counter() - t

    t = time.perf_counter()
    with sessions() as s, s.begin():
        gone = [*deleted, *(rel for rel in todo if rel in known)]
        if gone:
            s.execute(delete(ChunkRow).where(ChunkRow.tenant_id == tenant, ChunkRow.doc_id.in_(gone)))
            s.execute(delete(DocumentRow).where(DocumentRow.tenant_id == tenant, DocumentRow.id.in_(gone)))
        for rel in todo:
            doc_type = fresh[rel][0].metadata["doc_type"] if fresh[rel] else "text"
            size = (root_dir / rel).stat().st_size
            s.add(
                DocumentRow(
                    tenant_id=tenant,
                    id=rel,
                    sha256=shas[rel],
                    doc_type=doc_type,
                    size_bytes=size,
                    n_chunks=len(fresh[rel]),
                    n_issues=n_issues[rel],
                )
            )
        s.flush()
        s.add_all(
            ChunkRow(
                tenant_id=tenant,
                id=c.id,
                doc_id=c.doc_id,
                source=c.source,
                text=c.text,
                sha256=c.sha256,
                n_tokens=c.n_tokens,
                meta=c.metadata,
            )
            for rel in todo
            for c in fresh[rel]
        )
        retire_live_versions(s, tenant)
        s.add(
            IndexVersionRow(
                tenant_id=tenant,
                version=version,
                path=str(vdir),
                status="live",
                n_chunks=len(all_chunks),
                n_embedded=len(missing),
            )
        )
        point_tenant_at(s, tenant, version)
        set_live(root, version)  # the atomic swap; the SQL commit follows in the same block
    prune(root, keep=2)
    report.seconds["sql"] = time.perf_counter() - t
    report.version = version
    report.chunks_total = len(all_chunks)
    report.chunks_embedded = len(missing)
    report.issues = [str(i) for i in issues]
    report.seconds["total"] = time.perf_counter() - t0
    return report
