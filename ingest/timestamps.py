"""The one rule for a record's time, applied where ingest reads it and wherever a date is computed later.

Accepted: an ISO date (``2024-03-01``, made explicit as midnight UTC), an ISO date-time with ``T`` or a space,
minutes or seconds (fractions dropped), and ``Z``, an offset or nothing (naive times are taken as UTC); a month
named in words (``Jan 27, 2019 15:34``). Everything else (``last tuesday``, ``2024-02-30``) is not a time: ingest
reports it as ``file:line`` and keeps the record without one.

Stored form: ``YYYY-MM-DDTHH:MM:SSZ`` in UTC, so the strings sort in time order.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ingest.logs import TS_RE, lead_timestamp

CANONICAL = "%Y-%m-%dT%H:%M:%SZ"


def parse_timestamp(value: object) -> datetime | None:
    """``value`` as an aware UTC datetime, or None when it is not a time the rule accepts (never raises)."""
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        return None
    s = value.strip()
    if TS_RE.fullmatch(s) is None or s.startswith("["):
        lead = lead_timestamp(s)
        if lead is None or lead[1] != len(s):
            return None
        s = lead[0]
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def normalize_timestamp(value: object) -> str | None:
    """``value`` in the stored form (``2024-03-01`` -> ``2024-03-01T00:00:00Z``), or None when it is not a time."""
    dt = parse_timestamp(value)
    return None if dt is None else dt.strftime(CANONICAL)

