"""The timestamp rule (issue 20, finding 3): dates alone are midnight UTC, naive times UTC, offsets converted;
what is not a time is reported as file:line and the record is kept without one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.loaders import load_file
from ingest.timestamps import normalize_timestamp, parse_timestamp


@pytest.mark.parametrize(("raw", "stored"), [
    ("2024-03-01", "2024-03-01T00:00:00Z"),
    ("2021-03-02T14:05:11Z", "2021-03-02T14:05:11Z"),
    ("2021-03-02 14:05", "2021-03-02T14:05:00Z"),
    ("2021-03-02T14:05:11", "2021-03-02T14:05:11Z"),
    ("2021-03-02T14:05:11.25+02:00", "2021-03-02T12:05:11Z"),
    ("Jan 27, 2019 15:34", "2019-01-27T15:34:00Z"),
    ("last tuesday", None), ("2024-02-30", None), ("", None), (None, None), (20240301, None), ("9" * 100, None),
])
def test_the_rule(raw: object, stored: str | None) -> None:
    assert normalize_timestamp(raw) == stored
    parsed = parse_timestamp(raw)
    assert (parsed is None) == (stored is None)
    if parsed is not None:
        assert parsed.tzinfo is not None and parsed.utcoffset() == UTC.utcoffset(datetime.now(UTC))


def test_loaders_store_the_rule_and_report_what_is_not_a_time(tmp_path: Path) -> None:
    stamps = ["2024-03-01", "last tuesday", "2021-03-02T14:05:11+02:00", "2021-03-02T14:05:11"]
    lines = [json.dumps({"id": f"RF-{i}", "type": "refund", "timestamp": ts, "text": f"Refund for order #{i}."})
             for i, ts in enumerate(stamps)]
    (tmp_path / "refunds.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "orders.csv").write_text("order_id,order_date,total\n#1,2024-03-01,5\n#2,soon,7\n")
    loaded = load_file(tmp_path / "refunds.jsonl", tmp_path)
    assert [u.timestamp for u in loaded.units] == ["2024-03-01T00:00:00Z", None, "2021-03-02T12:05:11Z",
                                                   "2021-03-02T14:05:11Z"]
    assert [str(i) for i in loaded.issues] == [
        "refunds.jsonl:2: timestamp 'last tuesday' is not a date or an ISO date-time: record kept without a time"]
    assert "Refund for order #1." in loaded.units[1].text  # the record itself is kept
    csv = load_file(tmp_path / "orders.csv", tmp_path)
    assert [u.timestamp for u in csv.units] == ["2024-03-01T00:00:00Z", None]
    assert [(i.path, i.line) for i in csv.issues] == [("orders.csv", 3)]
