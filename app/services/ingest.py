"""`longhaul ingest DIR`: a folder is one source of the tenant's document store. Its files are copied into the store
(new or changed ones only, by content hash), the documents it no longer has are dropped, and the next index version
is built from the store (`app.services.index_build`): documents of other sources (API uploads, other folders) are
carried unchanged, and a file whose id another source owns is reported and skipped."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from app.core.db import SessionFactory
from app.core.settings import Settings
from app.core.tenants import check_tenant, docs_dir, tenant_lock
from app.services.index_build import (
    API_SOURCE,
    BuildOptions,
    Changes,
    IngestReport,
    ProgressFn,
    build_from_store,
    known_documents,
    tenant_profile,
)
from ingest.chunker import ChunkConfig
from ingest.loaders import LoadIssue, discover, sha256_bytes
from ingest.vocab_profile import PROFILE_NAME
from retrieval.embed import Embedder

__all__ = ["API_SOURCE", "IngestReport", "folder_source", "ingest_directory", "tenant_profile"]


def folder_source(path: Path) -> str:
    """The source name of an ingested folder: its absolute path."""
    return f"dir:{Path(path).resolve()}"


def place(store: Path, rel: str) -> Path:
    """Where document ``rel`` lives in ``store``; ValueError when the id collides with a folder or a file there."""
    target = store / rel
    if target.is_dir():
        raise ValueError(f"document id {rel!r} names a folder of other documents: choose another id")
    for parent in target.relative_to(store).parents:
        if parent != Path(".") and (store / parent).is_file():
            raise ValueError(f"document id {rel!r} puts a document under {parent.as_posix()!r}, which is a "
                             "document: choose another id")
    return target


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file and a rename: readers see the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _sync(folder: Path, files: list[Path], store: Path, source: str, owners: dict[str, str],
          issues: list[LoadIssue]) -> Changes:
    """Copy the folder's new or changed files into the store; the folder's changes for the build."""
    changes = Changes(source)
    same = folder.resolve() == store.resolve()
    seen: dict[str, str] = {}
    for p in files:
        rel = p.relative_to(folder).as_posix()
        data = p.read_bytes()
        sha = sha256_bytes(data)
        if sha in seen:
            issues.append(LoadIssue(rel, 0, f"same content as {seen[sha]}: skipped (content-hash dedupe)"))
            continue
        owner = owners.get(rel, "")
        if owner not in ("", source):
            if not same:  # in the store itself, another source's copy is simply not this source's document
                issues.append(LoadIssue(rel, 0, f"already ingested from {owner}: skipped (remove it there first)"))
            continue
        if not same:
            try:
                target = place(store, rel)
                if not target.is_file() or sha256_bytes(target.read_bytes()) != sha:
                    write_atomic(target, data)
            except (ValueError, OSError) as exc:
                issues.append(LoadIssue(rel, 0, f"{exc}: skipped"))
                continue
        seen[sha] = rel
        changes.changed[rel] = sha
    changes.removed = {rel for rel, owner in owners.items() if owner == source and rel not in changes.changed}
    if not same and (folder / PROFILE_NAME).is_file():
        write_atomic(store / PROFILE_NAME, (folder / PROFILE_NAME).read_bytes())
    return changes


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
    source: str | None = None,
) -> IngestReport:
    """Ingest folder ``path`` into ``tenant`` as one source, recording it through ``sessions``; an unchanged folder
    builds nothing and embeds nothing. Ingesting the tenant's store folder itself makes its files API documents.

    ``source``: the source's name (default ``dir:<absolute path>``), e.g. the old name of a folder that moved."""
    t0 = time.perf_counter()
    check_tenant(tenant)
    folder = Path(path)
    files, issues = discover(folder)
    store = docs_dir(settings, tenant)
    same = folder.resolve() == store.resolve()
    if source is not None and (source == API_SOURCE or not source.strip() or len(source) > 600) and not same:
        raise ValueError(f"source {source[:80]!r} is not a folder's: {API_SOURCE!r} names the API uploads; use a "
                         "name of up to 600 characters (default: dir:<the folder's absolute path>)")
    source = API_SOURCE if same else source or folder_source(folder)
    opts = BuildOptions(embedder=embedder, chunk_config=chunk_config, count=count, progress=progress)
    with tenant_lock(settings, tenant):
        store.mkdir(parents=True, exist_ok=True)
        owners = {rel: row.source for rel, row in known_documents(sessions, tenant).items()}
        changes = _sync(folder, files, store, source, owners, issues)
        report = build_from_store(store, tenant, changes, settings, sessions, issues, opts)
        if source != API_SOURCE:  # the folder no longer has them: their copies leave the store after the commit
            for rel in changes.removed:
                drop(store, rel)
    report.seconds["total"] = time.perf_counter() - t0
    return report


def drop(store: Path, rel: str) -> None:
    """Remove document ``rel`` from the store, and the folders it leaves empty."""
    (store / rel).unlink(missing_ok=True)
    for parent in (store / rel).relative_to(store).parents:
        folder = store / parent
        if parent == Path(".") or any(folder.iterdir()):
            break
        folder.rmdir()
