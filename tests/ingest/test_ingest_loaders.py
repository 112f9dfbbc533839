"""Loaders: bad input is reported with file:line and everything else is ingested, nothing lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.tokenizer import load_tokenizer
from ingest.chunker import ChunkConfig, chunk_file
from ingest.loaders import discover, load_file


@pytest.fixture(scope="module")
def count():
    return load_tokenizer().count


def _write(root: Path, rel: str, data: bytes | str) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return p


def _all_text(root: Path, p: Path, count) -> str:
    chunks, _ = chunk_file(load_file(p, root), count)
    return "\n".join(c.text for c in chunks)


def test_jsonl_bad_lines_reported_rest_kept(tmp_path: Path, count) -> None:
    good = {
        "id": "RF-1",
        "type": "refund",
        "timestamp": "2021-03-02T10:00:00Z",
        "text": "refund for #48291",
        "metadata": {"order_id": "#48291", "amount_usd": 12.5},
    }
    lines = [json.dumps(good), "{not json", json.dumps({"id": "RF-2"}), "[1, 2]", json.dumps({**good, "id": "RF-3"})]
    p = _write(tmp_path, "refunds/r.jsonl", "\n".join(lines) + "\n")
    loaded = load_file(p, tmp_path)
    assert [(i.path, i.line) for i in loaded.issues] == [
        ("refunds/r.jsonl", 2),
        ("refunds/r.jsonl", 3),
        ("refunds/r.jsonl", 4),
    ]
    assert all(str(i).startswith(f"refunds/r.jsonl:{i.line}: ") for i in loaded.issues)
    text = _all_text(tmp_path, p, count)
    for needle in ("RF-1", "RF-3", "{not json", '"RF-2"', "[1, 2]", "amount_usd: 12.5"):
        assert needle in text
    chunks, _ = chunk_file(loaded, count)
    rf1 = next(c for c in chunks if c.text.startswith("RF-1"))
    assert rf1.metadata["doc_type"] == "refund" and rf1.metadata["timestamp"] == "2021-03-02T10:00:00Z"
    assert rf1.source == "refunds/r.jsonl:1-1"


def test_csv_bad_row_and_encoding(tmp_path: Path, count) -> None:
    header = "order_id,order_date,fc,carrier,sku"
    rows = [
        "#10001,2021-01-02,LEJ1,SKX,SKU-EL-10423",
        "#10001,2021-01-02,LEJ1,SKX,SKU-BK-20001",
        "#10002,oops",
        "#10003,2021-01-05,MAD2,MRP,SKU-TY-30003",
    ]
    data = (header + "\n" + "\n".join(rows) + "\n").encode() + "#10004,2021-01-06,DUB1,KST,caf\xe9\n".encode("latin-1")
    p = _write(tmp_path, "manifests/m.csv", data)
    loaded = load_file(p, tmp_path)
    by_line = {i.line: i.message for i in loaded.issues}
    assert set(by_line) == {4, 6}
    assert "columns" in by_line[4] and "Latin-1" in by_line[6]
    chunks, _ = chunk_file(loaded, count)
    text = "\n".join(c.text for c in chunks)
    for row in [*rows, "#10004,2021-01-06,DUB1,KST,café"]:
        assert row in text
    order1 = [c for c in chunks if "#10001" in c.text]
    assert len(order1) == 1 and order1[0].text.count("#10001") == 2  # rows of one order stay together


def test_empty_binary_and_unknown_files(tmp_path: Path) -> None:
    _write(tmp_path, "a/empty.txt", "\n  \n")
    _write(tmp_path, "a/bin.log", b"\x00\x01\x02garbage")
    _write(tmp_path, "a/pic.png", b"\x89PNG")
    _write(tmp_path, "questions.jsonl", "{}")
    files, issues = discover(tmp_path)
    assert [f.name for f in files] == ["bin.log", "empty.txt"]
    assert [(i.path, i.line) for i in issues] == [("a/pic.png", 0)]
    for f in files:
        loaded = load_file(f, tmp_path)
        assert loaded.units == [] and len(loaded.issues) == 1 and loaded.issues[0].line == 0


def test_huge_line_split_nothing_lost(tmp_path: Path, count) -> None:
    words = [f"w{i}" for i in range(3000)]
    p = _write(tmp_path, "t.txt", "intro paragraph\n\n" + " ".join(words) + "\n\nlast paragraph\n")
    chunks, issues = chunk_file(load_file(p, tmp_path), count, ChunkConfig(max_tokens=64))
    assert len(issues) == 1 and issues[0].line == 3 and "split" in issues[0].message
    assert all(c.n_tokens <= 64 for c in chunks)
    joined = " ".join(c.text for c in chunks).split()
    assert joined == ["intro", "paragraph", *words, "last", "paragraph"]


def test_bad_scan_line_kept(tmp_path: Path, count) -> None:
    lines = [
        "2021-03-02T14:05:11Z SKX SKX7731290042 #48291 LEJ1 PICKED_UP",
        "garbage here",
        "2021-03-03T09:00:00Z SKX SKX7731290042 #48291 LEJ1 DELIVERED",
    ]
    p = _write(tmp_path, "scans/s.log", "\n".join(lines))
    loaded = load_file(p, tmp_path)
    assert [i.line for i in loaded.issues] == [2]
    text = _all_text(tmp_path, p, count)
    assert all(line in text for line in lines)


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a directory"):
        discover(tmp_path / "nope")
