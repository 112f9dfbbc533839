"""Metadata extraction against hand-checked lines of each document type."""

from __future__ import annotations

from pathlib import Path

from ingest.metadata import VOCAB_META_KEYS, extract_metadata
from ingest.vocabulary import learn_vocabulary
from tests.ingest.tenants import tenant_a, tenant_b


def test_scan_event_line(tmp_path: Path) -> None:
    vocab = learn_vocabulary(tenant_a(tmp_path))
    line = (
        "2021-03-02T14:05:11Z SKX SKX7731290042 #48291 LEJ1 EXCEPTION EX-77 SEAL_BREACH_REVIEW tamper seal "
        "breach, held for security review"
    )
    m = extract_metadata(line, "scan", vocab=vocab)
    assert m["order_ids"] == ["#48291"] and m["carriers"] == ["SKX"] and m["fcs"] == ["LEJ1"]
    assert m["exception_codes"] == ["EX-77"] and m["dates"] == ["2021-03-02"]
    assert m["tracking_numbers"] == ["SKX7731290042"]
    assert m["timestamp"] == "2021-03-02T14:05:11Z" and m["doc_type"] == "scan"


def test_without_a_vocabulary_only_dates_are_found() -> None:
    """Ids, codes and names are the tenant's own: nothing is guessed from a built-in list."""
    m = extract_metadata("2021-03-02T14:05:11Z SKX SKX7731290042 #48291 LEJ1 EXCEPTION EX-77", "scan")
    assert m["dates"] == ["2021-03-02"] and m["timestamp"] == "2021-03-02T14:05:11Z"
    assert all(m[k] == [] for k in VOCAB_META_KEYS if k != "dates")


def test_explicit_fields() -> None:
    r = extract_metadata(
        "refund on #48291", "refund", "2021-04-01T00:00:00Z", {"doc_type": "return", "record_id": "RF-1"}
    )
    assert r["doc_type"] == "return" and r["record_id"] == "RF-1" and r["timestamp"] == "2021-04-01T00:00:00Z"
    assert extract_metadata("nothing here", "text")["timestamp"] is None


def test_with_a_vocabulary_lists_hold_its_canonical_values(tmp_path: Path) -> None:
    vocab = learn_vocabulary(tenant_b(tmp_path))
    text = (
        "2021-03-04T09:12:00Z parcel ATP100200301 held at customs @DE-LEJ [ref 84977] code D17; "
        "Atlas Post says the Leipzig team has EL-PHN-X12 for RMA-2021-00412"
    )
    m = extract_metadata(text, "scan", vocab=vocab)
    assert m["order_ids"] == ["84977"] and m["carriers"] == ["ATP"] and m["fcs"] == ["DE-LEJ"]
    assert m["skus"] == ["EL-PHN-X12"] and m["exception_codes"] == ["D17"] and m["policies"] == []
    assert m["tracking_numbers"] == ["ATP100200301"] and m["rma_ids"] == ["RMA-2021-00412"]
    assert m["dates"] == ["2021-03-04"] and m["timestamp"] == "2021-03-04T09:12:00Z" and m["doc_type"] == "scan"
    assert set(VOCAB_META_KEYS) <= set(m)
