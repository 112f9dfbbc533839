"""Selections of a tenant's orders over its ingested records: what a reconciliation job covers when it is given a
query instead of a list of orders."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.rows import ChunkRow
from ingest.timestamps import parse_timestamp


def delayed_refund_orders(s: Session, tenant: str, min_delay_days: int, date_from: date | None,
                          date_to: date | None) -> list[str]:
    """Orders whose refund came more than ``min_delay_days`` after the return, refunded within the date range.

    Record times are read with `ingest.timestamps.parse_timestamp` (a date alone is midnight UTC); a record whose
    time it does not accept counts as undated and is left out."""
    kind = ChunkRow.meta["doc_type"].as_string()
    rows = s.execute(select(ChunkRow.meta).where(ChunkRow.tenant_id == tenant,
                                                 kind.in_(["refund", "return"]))).scalars().all()
    returned: dict[str, datetime] = {}
    refunded: dict[str, datetime] = {}
    for meta in rows:
        when = parse_timestamp(meta.get("timestamp"))
        if when is None:
            continue
        for order in meta.get("order_ids") or []:
            book = returned if meta["doc_type"] == "return" else refunded
            book[order] = min(book.get(order, when), when) if book is returned else max(book.get(order, when), when)
    out = []
    for order, paid in refunded.items():
        if order not in returned or (date_from and paid.date() < date_from) or (date_to and paid.date() > date_to):
            continue
        if (paid - returned[order]).days > min_delay_days:
            out.append(order)
    return sorted(out)
