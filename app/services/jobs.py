"""Batch reconciliation jobs, the state machine: the job and its items are the state of record in SQL; workers
(Celery processes or an in-process pool, see `app.services.job_runners`) call `process_item`, which is idempotent: an
item's result is recorded at most once (a conditional UPDATE from ``pending``), so a redelivered or retried item is
never done twice. Which orders a job covers is chosen elsewhere (`app.services.selections`).

`process_item` takes the session factory (it runs several transactions); the other functions take the caller's
session and commit their own changes."""

from __future__ import annotations

import csv
import io
import json
import logging
import secrets
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from app.core.db import SessionFactory
from app.core.rows import JobItemRow, JobRow, now_utc

log = logging.getLogger(__name__)
AskFn = Callable[[str, str, dict[str, Any]], dict[str, Any]]  # (question, tenant, options) -> answer JSON
TERMINAL = ("done", "cancelled", "failed")


def create_job(s: Session, tenant: str, spec: dict[str, Any], orders: list[str]) -> JobRow:
    """Record a job and one pending item per order (deduplicated, in order)."""
    orders = list(dict.fromkeys(orders))
    if not orders:
        raise ValueError("the job selects no orders: name some, or widen the query")
    job = JobRow(id=secrets.token_hex(8), tenant_id=tenant, status="queued", spec=spec, n_items=len(orders))
    s.add(job)
    s.flush()
    s.add_all(JobItemRow(job_id=job.id, seq=i, order_id=o, question=spec["question"].replace("{order}", o),
                         status="pending", attempts=0) for i, o in enumerate(orders))
    s.commit()
    return job


def pending_items(s: Session, job_id: str | None = None) -> list[int]:
    """Ids of pending items of live jobs (one job, or all of them: what a resume re-dispatches)."""
    q = (select(JobItemRow.id).join(JobRow, JobRow.id == JobItemRow.job_id)
         .where(JobItemRow.status == "pending", JobRow.status.in_(["queued", "running"])).order_by(JobItemRow.id))
    if job_id:
        q = q.where(JobItemRow.job_id == job_id)
    return list(s.scalars(q))


def process_item(sessions: SessionFactory, item_id: int, ask: AskFn, worker: str, max_attempts: int) -> str:
    """Run one item; returns ``done``, ``skipped`` (already finished or cancelled), ``failed`` or ``retry``."""
    with sessions() as s, s.begin():
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
        _finish(sessions, item_id, "failed", None, f"{type(exc).__name__}: {exc}", worker)
        return "failed"
    result = {"answer": answer["answer"], "verified": answer["verified"], "fallback": answer["fallback"],
              "citations": [c["id"] for c in answer["citations"]]}
    return "done" if _finish(sessions, item_id, "done", result, None, worker) else "skipped"


def _lock_job(s: Session, job_id: str | None) -> JobRow | None:
    """The job row, locked until the transaction ends (PostgreSQL; SQLite serialises writers anyway). Every writer
    locks the job before its items, so concurrent workers neither deadlock nor miss the job's completion."""
    return s.scalar(select(JobRow).where(JobRow.id == job_id).with_for_update())


def _finish(sessions: SessionFactory, item_id: int, status: str, result: dict[str, Any] | None, error: str | None,
            worker: str) -> bool:
    now = now_utc()
    with sessions() as s, s.begin():
        job_id = s.scalar(select(JobItemRow.job_id).where(JobItemRow.id == item_id))
        _lock_job(s, job_id)  # finishers of one job take turns, so exactly one of them sees "none left"
        claim = (update(JobItemRow).where(JobItemRow.id == item_id, JobItemRow.status == "pending")
                 .values(status=status, result=result, error=error, worker=worker, finished_at=now))
        won = cast(CursorResult[Any], s.execute(claim)).rowcount
        left = s.scalar(select(func.count()).select_from(JobItemRow)
                        .where(JobItemRow.job_id == job_id, JobItemRow.status == "pending"))
        if left == 0:
            s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status.in_(["queued", "running"]))
                      .values(status="done", finished_at=now))
    if won:
        log.info("item %d %s", item_id, status, extra={"fields": {"event": "item_finished", "item": item_id,
                                                                  "status": status, "worker": worker}})
    return bool(won)


def cancel_job(s: Session, job_id: str) -> None:
    now = now_utc()
    s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status.in_(["queued", "running"]))
              .values(status="cancelled", finished_at=now))
    s.execute(update(JobItemRow).where(JobItemRow.job_id == job_id, JobItemRow.status == "pending")
              .values(status="cancelled", finished_at=now))
    s.commit()


def get_job(s: Session, tenant: str, job_id: str) -> tuple[JobRow, dict[str, int]] | None:
    """The job as stored now (workers change it) with its item counts by status, or None when it is not this
    tenant's."""
    job = s.get(JobRow, job_id, populate_existing=True)
    if job is None or job.tenant_id != tenant:
        return None
    counts = dict(s.execute(select(JobItemRow.status, func.count()).where(JobItemRow.job_id == job_id)
                            .group_by(JobItemRow.status)).all())
    return job, {k: counts.get(k, 0) for k in ("pending", "done", "failed", "cancelled")}


def list_jobs(s: Session, tenant: str, status: str | None = None, limit: int = 50
              ) -> list[tuple[JobRow, dict[str, int]]]:
    """The tenant's jobs, newest first (only those in ``status`` when given), each with its item counts."""
    q = select(JobRow).where(JobRow.tenant_id == tenant).order_by(JobRow.created_at.desc(), JobRow.id).limit(limit)
    if status is not None:
        q = q.where(JobRow.status == status)
    jobs = list(s.scalars(q.execution_options(populate_existing=True)))
    counts: dict[str, dict[str, int]] = {j.id: dict.fromkeys(("pending", "done", "failed", "cancelled"), 0)
                                         for j in jobs}
    if jobs:
        rows = s.execute(select(JobItemRow.job_id, JobItemRow.status, func.count())
                         .where(JobItemRow.job_id.in_(list(counts))).group_by(JobItemRow.job_id, JobItemRow.status))
        for job_id, item_status, n in rows:
            counts[job_id][item_status] = n
    return [(j, counts[j.id]) for j in jobs]


def reopen_job(s: Session, job_id: str) -> None:
    """A cancelled job resumes: its cancelled items become pending again (done items stay done)."""
    s.execute(update(JobItemRow).where(JobItemRow.job_id == job_id, JobItemRow.status == "cancelled")
              .values(status="pending", finished_at=None))
    s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status == "cancelled")
              .values(status="running", finished_at=None))
    s.commit()


COLUMNS = ("seq", "order_id", "status", "attempts", "answer", "verified", "citations", "error")


def result_rows(s: Session, job_id: str) -> list[dict[str, Any]]:
    """One row per item in order, with the fields of `COLUMNS` (citations as a list of ids)."""
    out = []
    q = select(JobItemRow).where(JobItemRow.job_id == job_id).order_by(JobItemRow.seq)
    for it in s.scalars(q.execution_options(populate_existing=True)):
        r = it.result or {}
        out.append({"seq": it.seq, "order_id": it.order_id, "status": it.status, "attempts": it.attempts,
                    "answer": r.get("answer"), "verified": r.get("verified"), "citations": r.get("citations", []),
                    "error": it.error})
    return out


def results_jsonl(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row) + "\n"


def results_csv(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "citations": " ".join(row["citations"])})
    yield buf.getvalue()
