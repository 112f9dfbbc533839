"""A tenant's index versions after the fact: make an earlier one live again (rollback), and the startup recovery
that settles what a crash left behind (reindexes left `building`, journalled uploads, half-written versions)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from sqlalchemy import delete, select, update

from app.core.db import SessionFactory
from app.core.rows import ChunkRow, DocumentRow, IndexVersionRow, TenantRow, point_tenant_at, retire_live_versions
from app.core.settings import Settings
from app.core.tenants import docs_dir, index_root, tenant_lock
from app.services.journal import pending_writes, recover_store
from retrieval.index import live_version, load_chunks, load_documents, set_live, versions

log = logging.getLogger(__name__)
INTERRUPTED = "interrupted: the service stopped before this reindex finished; the previous version stayed live"


def rollback(settings: Settings, sessions: SessionFactory, tenant: str, version: str) -> str | None:
    """Make ``version`` (still on disk) the tenant's live index, with the document records it was built with;
    returns the version that was live. LookupError (listing the versions kept) when it is not on disk."""
    root = index_root(settings, tenant)
    with tenant_lock(settings, tenant):
        kept = versions(root)
        if version not in kept:
            raise LookupError(f"tenant {tenant!r} has no index version {version[:40]!r}; kept: "
                              f"{', '.join(kept) or 'none'} (LONGHAUL_INDEX_KEEP_VERSIONS sets how many)")
        before = live_version(root)
        vdir = root / version
        documents = load_documents(vdir)
        with sessions() as s, s.begin():
            if documents is not None:  # the records follow the version; a version from before they were kept
                s.execute(delete(ChunkRow).where(ChunkRow.tenant_id == tenant))  # leaves them as they are
                s.execute(delete(DocumentRow).where(DocumentRow.tenant_id == tenant))
                s.flush()
                s.add_all(DocumentRow(tenant_id=tenant, id=rel, **rec) for rel, rec in documents.items())
                s.flush()
                s.add_all(ChunkRow(tenant_id=tenant, id=c.id, doc_id=c.doc_id, source=c.source, text=c.text,
                                   sha256=c.sha256, n_tokens=c.n_tokens, meta=c.metadata) for c in load_chunks(vdir))
            retire_live_versions(s, tenant)
            row = s.scalars(select(IndexVersionRow).where(IndexVersionRow.tenant_id == tenant,
                                                          IndexVersionRow.version == version)
                            .order_by(IndexVersionRow.id.desc())).first()
            if row is None:
                s.add(IndexVersionRow(tenant_id=tenant, version=version, path=str(vdir), status="live",
                                      n_chunks=len(load_chunks(vdir)), n_embedded=0))
            else:
                row.status = "live"
            point_tenant_at(s, tenant, version)
            set_live(root, version)
        log.info("rollback %s: %s live (was %s)", tenant, version, before)
        return before


def recover(settings: Settings, sessions: SessionFactory) -> list[str]:
    """Startup recovery; returns one line per thing settled. A tenant whose writer is busy (lock held by another
    process) is left alone."""
    lines: list[str] = []
    with sessions() as s:
        tenants = list(s.scalars(select(TenantRow.id)))
    for tenant in tenants:
        with tenant_lock(settings, tenant, wait=False) as held:
            if not held:
                continue
            with sessions() as s, s.begin():
                stuck = s.scalars(select(IndexVersionRow.id).where(IndexVersionRow.tenant_id == tenant,
                                                                   IndexVersionRow.status == "building")).all()
                if stuck:
                    s.execute(update(IndexVersionRow).where(IndexVersionRow.id.in_(stuck))
                              .values(status="failed", detail=INTERRUPTED))
                recorded = dict(s.execute(select(DocumentRow.id, DocumentRow.sha256)
                                          .where(DocumentRow.tenant_id == tenant)).tuples().all())
            lines += [f"{tenant}: reindex {i} marked failed ({INTERRUPTED})" for i in stuck]
            store = docs_dir(settings, tenant)
            lines += [f"{tenant}: {line}" for line in recover_store(store, recorded)]
            root = index_root(settings, tenant)
            for tmp in [*root.glob(".tmp-v*"), *_temp_files(store)]:
                shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
                lines.append(f"{tenant}: removed the half-written {tmp.name}")
    for line in lines:
        log.warning("startup recovery: %s", line)
    return lines


def _temp_files(store: Path) -> list[Path]:
    return [p for p in store.rglob(".*.tmp") if p.is_file()] if store.is_dir() else []


def pending_tenants(settings: Settings, sessions: SessionFactory) -> list[str]:
    """The tenants with interrupted uploads or deletions waiting to run again (`DocumentStore.resume`)."""
    with sessions() as s:
        tenants = list(s.scalars(select(TenantRow.id)))
    return [t for t in tenants if pending_writes(docs_dir(settings, t))]
