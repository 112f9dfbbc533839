"""Metadata extraction against hand-checked lines of each document type."""

from __future__ import annotations

from ingest.metadata import extract_metadata


def test_scan_event_line() -> None:
    line = (
        "2021-03-02T14:05:11Z SKX SKX7731290042 #48291 LEJ1 EXCEPTION EX-77 SEAL_BREACH_REVIEW tamper seal "
        "breach, held for security review"
    )
    m = extract_metadata(line, "scan")
    assert m["order_ids"] == ["#48291"] and m["carriers"] == ["SKX"] and m["fcs"] == ["LEJ1"]
    assert m["exception_codes"] == ["EX-77"] and m["dates"] == ["2021-03-02"]
    assert m["timestamp"] == "2021-03-02T14:05:11Z" and m["doc_type"] == "scan"


def test_note_names_and_synonyms() -> None:
    text = (
        "## 2021-03-05 (shift: night)\nOrder #48291 (SKU-EL-10423) left the Leipzig dock with Skyline Express; "
        "Kestrel picked up #50001 on 2021-03-06."
    )
    m = extract_metadata(text, "note")
    assert m["order_ids"] == ["#48291", "#50001"] and m["skus"] == ["SKU-EL-10423"]
    assert m["carriers"] == ["KST", "SKX"] and m["fcs"] == ["LEJ1"]
    assert m["dates"] == ["2021-03-05", "2021-03-06"] and m["timestamp"] == "2021-03-05"


def test_policy_and_explicit_fields() -> None:
    m = extract_metadata("# POL-REFUND v3 — effective 2020-11-01", "policy")
    assert m["policies"] == ["POL-REFUND v3"] and m["timestamp"] == "2020-11-01"
    r = extract_metadata(
        "refund on #48291", "refund", "2021-04-01T00:00:00Z", {"doc_type": "return", "record_id": "RF-1"}
    )
    assert r["doc_type"] == "return" and r["record_id"] == "RF-1" and r["timestamp"] == "2021-04-01T00:00:00Z"
    assert extract_metadata("nothing here", "text")["timestamp"] is None
