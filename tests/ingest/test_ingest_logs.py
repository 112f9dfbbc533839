"""Log formats detected per file, parsed into events; lines no format reads are reported and kept."""

from __future__ import annotations

from pathlib import Path

from ingest.loaders import load_file
from ingest.logs import detect_format, group_key, parse_line, parse_log
from tests.ingest.tenants import write

WORLD_A = [
    "2021-03-02T14:05:11Z SKX SKX7731290042 #48291 LEJ1 PICKED_UP",
    "2021-03-03T09:00:00Z SKX SKX7731290042 #48291 HUB-LEJ EXCEPTION EX-41 CUSTOMS_HOLD held by customs",
]


def test_pipe_delimited_without_header() -> None:
    lines = ["2021-03-02 14:05|ATP100200300|DE-LEJ|DEPART|", "2021-03-03 09:10|ATP100200300|DE-LEJ|HOLD|HOLD-SEC"]
    fmt, events = parse_log(lines)
    assert (fmt.name, fmt.delimiter, fmt.fields) == ("delimited", "|", ("timestamp", "f2", "f3", "f4", "f5"))
    assert events[1] == (
        2,
        {"format": "delimited", "timestamp": "2021-03-03T09:10", "f2": "ATP100200300", "f3": "DE-LEJ",
         "f4": "HOLD", "f5": "HOLD-SEC"},
    )  # fmt: skip
    assert group_key(events[0][1] or {}) == "ATP100200300"


def test_tab_and_semicolon_with_header_row() -> None:
    fmt, events = parse_log(["time\ttracking\tsite\tevent", "2021-03-02T14:05:00Z\t1Z999AA10123456784\tUS-RNO\tOUT"])
    assert fmt.header_line == 1 and [i for i, _ in events] == [2]
    assert events[0][1] == {"format": "delimited", "time": "2021-03-02T14:05:00Z", "tracking": "1Z999AA10123456784",
                            "site": "US-RNO", "event": "OUT", "timestamp": "2021-03-02T14:05:00Z"}  # fmt: skip
    fmt, _ = parse_log(["a;b;c", "1;2;3", "4;5;6"])
    assert (fmt.name, fmt.delimiter, fmt.fields) == ("delimited", ";", ("a", "b", "c"))


def test_key_value_lines() -> None:
    lines = ['ts=2021-03-05T10:00:00Z awb=ATP100200300 site=DE-LEJ status=RELEASED note="after HOLD-SEC"']
    assert detect_format(lines).name == "kv"
    event = parse_line(lines[0], detect_format(lines))
    assert event == {"format": "kv", "ts": "2021-03-05T10:00:00Z", "awb": "ATP100200300", "site": "DE-LEJ",
                     "status": "RELEASED", "note": "after HOLD-SEC", "timestamp": "2021-03-05T10:00:00Z"}  # fmt: skip
    assert group_key(event) == "ATP100200300"


def test_free_text_with_facility_and_ref() -> None:
    line = "2021-03-04T09:12:00Z parcel ATP100200301 held at customs @DE-LEJ [ref 84977] code D17"
    fmt, [(_, event)] = parse_log([line])
    assert fmt.name == "text" and event is not None
    assert (event["timestamp"], event["facility"], event["ref"], event["tracking"]) == (
        "2021-03-04T09:12:00Z", "DE-LEJ", "84977", "ATP100200301")  # fmt: skip
    assert event["message"].startswith("parcel ATP100200301")


def test_mixed_block_each_line_in_its_own_format() -> None:
    lines = [*WORLD_A, "ts=2021-03-05T10:00:00Z awb=ATP100200300 site=DE-LEJ", "garbage here"]
    fmt, events = parse_log(lines)
    assert fmt.name == "text"
    assert [e["format"] if e else None for _, e in events] == ["text", "text", "kv", None]


def test_loader_world_b_logs_parsed_bad_lines_reported(tmp_path: Path) -> None:
    lines = [
        "2021-03-02 14:05|ATP100200300|DE-LEJ|DEPART|",
        "2021-03-02 15:00|NFX500600700|US-RNO|DEPART|",
        "oops, no time here",
        "2021-03-03 09:10|ATP100200300|DE-LEJ|HOLD|HOLD-SEC",
    ]
    p = write(tmp_path, "feeds/carrier_feed.log", "\n".join(lines) + "\n")
    loaded = load_file(p, tmp_path)
    assert [(str(i).split(": ")[0]) for i in loaded.issues] == ["feeds/carrier_feed.log:3"]
    assert [u.text for u in loaded.units] == lines  # nothing lost
    assert [u.group for u in loaded.units] == ["ATP100200300", "NFX500600700", "L3", "ATP100200300"]
    assert loaded.units[3].timestamp == "2021-03-03T09:10:00Z" and loaded.units[3].fields["event"]["f5"] == "HOLD-SEC"


def test_loader_world_a_scan_columns_grouped_by_tracking(tmp_path: Path) -> None:
    p = write(tmp_path, "scans/s.log", "\n".join(WORLD_A) + "\n")
    units = load_file(p, tmp_path).units
    assert [(u.group, u.timestamp) for u in units] == [
        ("SKX7731290042", "2021-03-02T14:05:11Z"),
        ("SKX7731290042", "2021-03-03T09:00:00Z"),
    ]
    assert units[0].fields["event"]["format"] == "text"
