"""Batch reconciliation jobs: the job and its items are the state of record in SQL; workers (Celery processes or
an in-process pool, see `app.services.job_runners`) call `process_item`, which is idempotent: an item's result is
recorded at most once (a conditional UPDATE from ``pending``), so a redelivered or retried item is never done twice."""

from __future__ import annotations

import csv
import io
import json
import logging
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import sessionmaker

from app.core.db import ChunkRow
from app.core.rows import JobItemRow, JobRow

log = logging.getLogger(__name__)
AskFn = Callable[[str, str, dict[str, Any]], dict[str, Any]]  # (question, tenant, options) -> answer JSON
TERMINAL = ("done", "cancelled", "failed")


def delayed_refund_orders(Session: sessionmaker, tenant: str, min_delay_days: int, date_from: date | None,
                          date_to: date | None) -> list[str]:
    """Orders whose refund came more than ``min_delay_days`` after the return, refunded within the date range."""
    kind = ChunkRow.meta["doc_type"].as_string()
    with Session() as s:
        rows = s.execute(select(ChunkRow.meta).where(ChunkRow.tenant_id == tenant,
                                                     kind.in_(["refund", "return"]))).scalars().all()
    returned: dict[str, datetime] = {}
    refunded: dict[str, datetime] = {}
    for meta in rows:
        ts = meta.get("timestamp")
        if not ts:
            continue
        when = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        for order in meta.get("order_ids", []):
            book = returned if meta["doc_type"] == "return" else refunded
            book[order] = min(book.get(order, when), when) if book is returned else max(book.get(order, when), when)
    out = []
    for order, paid in refunded.items():
        if order not in returned or (date_from and paid.date() < date_from) or (date_to and paid.date() > date_to):
            continue
        if (paid - returned[order]).days > min_delay_days:
            out.append(order)
    return sorted(out)


def create_job(Session: sessionmaker, tenant: str, spec: dict[str, Any], orders: list[str]) -> JobRow:
    """Record a job and one pending item per order (deduplicated, in order)."""
    orders = list(dict.fromkeys(orders))
    if not orders:
        raise ValueError("the job selects no orders: name some, or widen the query")
    job = JobRow(id=secrets.token_hex(8), tenant_id=tenant, status="queued", spec=spec, n_items=len(orders))
    with Session() as s, s.begin():
        s.add(job)
        s.flush()
        s.add_all(JobItemRow(job_id=job.id, seq=i, order_id=o, question=spec["question"].replace("{order}", o),
                             status="pending", attempts=0) for i, o in enumerate(orders))
    return job


def pending_items(Session: sessionmaker, job_id: str | None = None) -> list[int]:
    """Ids of pending items of live jobs (one job, or all of them: what a resume re-dispatches)."""
    q = (select(JobItemRow.id).join(JobRow, JobRow.id == JobItemRow.job_id)
         .where(JobItemRow.status == "pending", JobRow.status.in_(["queued", "running"])).order_by(JobItemRow.id))
    if job_id:
        q = q.where(JobItemRow.job_id == job_id)
    with Session() as s:
        return list(s.scalars(q))


def process_item(Session: sessionmaker, item_id: int, ask: AskFn, worker: str, max_attempts: int) -> str:
    """Run one item; returns ``done``, ``skipped`` (already finished or cancelled), ``failed`` or ``retry``."""
    with Session() as s, s.begin():
        job_id = s.scalar(select(JobItemRow.job_id).where(JobItemRow.id == item_id))
        job = _lock_job(s, job_id) if job_id else None
        item = s.get(JobItemRow, item_id)
        if item is None or job is None or item.status != "pending" or job.status in TERMINAL:
            return "skipped"
        item.attempts += 1
        attempts, question, tenant, spec = item.attempts, item.question, job.tenant_id, dict(job.spec)
        if job.status == "queued":
            job.status = "running"
    try:
        answer = ask(question, tenant, spec.get("options", {}))
    except Exception as exc:  # noqa: BLE001 - recorded on the item; retried until max_attempts
        log.warning("item %d attempt %d failed: %s", item_id, attempts, exc)
        if attempts < max_attempts:
            return "retry"
        _finish(Session, item_id, "failed", None, f"{type(exc).__name__}: {exc}", worker)
        return "failed"
    result = {"answer": answer["answer"], "verified": answer["verified"], "fallback": answer["fallback"],
              "citations": [c["id"] for c in answer["citations"]]}
    return "done" if _finish(Session, item_id, "done", result, None, worker) else "skipped"


def _lock_job(s: OrmSession, job_id: str) -> JobRow | None:
    """The job row, locked until the transaction ends (PostgreSQL; SQLite serialises writers anyway). Every writer
    locks the job before its items, so concurrent workers neither deadlock nor miss the job's completion."""
    return s.scalar(select(JobRow).where(JobRow.id == job_id).with_for_update())


def _finish(Session: sessionmaker, item_id: int, status: str, result: dict[str, Any] | None, error: str | None,
            worker: str) -> bool:
    now = datetime.now(UTC)
    with Session() as s, s.begin():
        job_id = s.scalar(select(JobItemRow.job_id).where(JobItemRow.id == item_id))
        _lock_job(s, job_id)  # finishers of one job take turns, so exactly one of them sees "none left"
        won = s.execute(update(JobItemRow).where(JobItemRow.id == item_id, JobItemRow.status == "pending")
                        .values(status=status, result=result, error=error, worker=worker, finished_at=now)).rowcount
        left = s.scalar(select(func.count()).select_from(JobItemRow)
                        .where(JobItemRow.job_id == job_id, JobItemRow.status == "pending"))
        if left == 0:
            s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status.in_(["queued", "running"]))
                      .values(status="done", finished_at=now))
    if won:
        log.info("item %d %s", item_id, status, extra={"fields": {"event": "item_finished", "item": item_id,
                                                                  "status": status, "worker": worker}})
    return bool(won)


def cancel_job(Session: sessionmaker, job_id: str) -> None:
    now = datetime.now(UTC)
    with Session() as s, s.begin():
        s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status.in_(["queued", "running"]))
                  .values(status="cancelled", finished_at=now))
        s.execute(update(JobItemRow).where(JobItemRow.job_id == job_id, JobItemRow.status == "pending")
                  .values(status="cancelled", finished_at=now))


def get_job(Session: sessionmaker, tenant: str, job_id: str) -> tuple[JobRow, dict[str, int]] | None:
    """The job with its item counts by status, or None when it is not this tenant's."""
    with Session() as s:
        job = s.get(JobRow, job_id)
        if job is None or job.tenant_id != tenant:
            return None
        counts = dict(s.execute(select(JobItemRow.status, func.count()).where(JobItemRow.job_id == job_id)
                                .group_by(JobItemRow.status)).all())
    return job, {k: counts.get(k, 0) for k in ("pending", "done", "failed", "cancelled")}


def reopen_job(Session: sessionmaker, job_id: str) -> None:
    """A cancelled job resumes: its cancelled items become pending again (done items stay done)."""
    with Session() as s, s.begin():
        s.execute(update(JobItemRow).where(JobItemRow.job_id == job_id, JobItemRow.status == "cancelled")
                  .values(status="pending", finished_at=None))
        s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status == "cancelled")
                  .values(status="running", finished_at=None))


COLUMNS = ("seq", "order_id", "status", "attempts", "answer", "verified", "citations", "error")


def _rows(Session: sessionmaker, job_id: str) -> Iterator[dict[str, Any]]:
    with Session() as s:
        for it in s.scalars(select(JobItemRow).where(JobItemRow.job_id == job_id).order_by(JobItemRow.seq)):
            r = it.result or {}
            yield {"seq": it.seq, "order_id": it.order_id, "status": it.status, "attempts": it.attempts,
                   "answer": r.get("answer"), "verified": r.get("verified"), "citations": r.get("citations", []),
                   "error": it.error}


def results_jsonl(Session: sessionmaker, job_id: str) -> Iterator[str]:
    for row in _rows(Session, job_id):
        yield json.dumps(row) + "\n"


def results_csv(Session: sessionmaker, job_id: str) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)
    writer.writeheader()
    for row in _rows(Session, job_id):
        writer.writerow({**row, "citations": " ".join(row["citations"])})
    yield buf.getvalue()
