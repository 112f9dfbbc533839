"""Load a tenant's files into `Unit`s (one record, row, event or paragraph each), validating as we go.

Every problem is reported as a `LoadIssue` with the file and line; the rest of the file is still loaded and
nothing is silently dropped: a malformed record is kept as raw text, a line in an unknown encoding is decoded as
Latin-1, a huge line is split later by the chunker (and reported there).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.logs import group_key, parse_log
from ingest.records import Document
from ingest.timestamps import normalize_timestamp

log = logging.getLogger(__name__)

SUFFIXES = (".jsonl", ".csv", ".md", ".txt", ".log")
SKIP_NAMES = frozenset({"questions.jsonl", "stats.json", "vocabulary.yaml"})  # the profile: ingest.vocabulary
FOLDER_TYPES = {"manifests": "manifest", "scans": "scan", "notes": "note", "refunds": "refund", "policies": "policy"}
SUFFIX_TYPES = {".jsonl": "record", ".csv": "table", ".md": "note", ".txt": "text", ".log": "scan"}
JSONL_REQUIRED = ("id", "text")


@dataclass(frozen=True)
class LoadIssue:
    """A problem found in a file; ``line`` is 1-based (0 = the whole file)."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class Unit:
    """The smallest piece of evidence the chunker never splits (unless it alone exceeds the token limit).

    Units sharing ``group`` are chunked together (rows of one order, events of one shipment, paragraphs of one
    section); ``context`` is prepended to every chunk of the group (a CSV header, the Markdown headings).
    """

    text: str
    line: int
    line_end: int
    group: str
    context: str = ""
    timestamp: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoadedFile:
    document: Document
    kind: str  # the suffix without the dot: jsonl, csv, md, txt, log
    units: list[Unit]
    issues: list[LoadIssue]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def doc_type_for(rel: str) -> str:
    parts = Path(rel).parts
    for p in parts[:-1]:
        if p in FOLDER_TYPES:
            return FOLDER_TYPES[p]
    return SUFFIX_TYPES.get(Path(rel).suffix.lower(), "text")


def discover(root: Path) -> tuple[list[Path], list[LoadIssue]]:
    """Files under ``root`` that ingest understands, sorted; unknown files come back as issues."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory: pass the folder holding the tenant's files")
    files, issues = [], []
    for p in sorted(root.rglob("*")):
        if not p.is_file() or any(part.startswith(".") for part in p.relative_to(root).parts):
            continue
        if p.name in SKIP_NAMES:
            continue
        if p.suffix.lower() in SUFFIXES:
            files.append(p)
        else:
            issues.append(LoadIssue(p.relative_to(root).as_posix(), 0, f"unknown file type {p.suffix!r}: skipped"))
    return files, issues


def _decode_lines(data: bytes, rel: str, issues: list[LoadIssue]) -> list[str]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        pass
    lines = []
    for i, raw in enumerate(data.split(b"\n"), start=1):
        raw = raw.rstrip(b"\r")
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            issues.append(LoadIssue(rel, i, "not valid UTF-8 (unknown encoding): decoded as Latin-1"))
            lines.append(raw.decode("latin-1"))
    return lines


def load_file(path: Path, root: Path) -> LoadedFile:
    """Read, validate and split one file into units. Never raises for bad content: see ``issues``."""
    rel = path.relative_to(root).as_posix()
    data = path.read_bytes()
    doc = Document(rel, str(path), sha256_bytes(data), doc_type_for(rel), len(data))
    kind = path.suffix.lower().lstrip(".")
    issues: list[LoadIssue] = []
    if not data.strip():
        issues.append(LoadIssue(rel, 0, "empty file: nothing to ingest"))
        return LoadedFile(doc, kind, [], issues)
    if b"\x00" in data[:8192]:
        issues.append(LoadIssue(rel, 0, "binary content (NUL bytes): skipped"))
        return LoadedFile(doc, kind, [], issues)
    lines = _decode_lines(data, rel, issues)
    units = PARSERS[kind](lines, rel, issues)
    return LoadedFile(doc, kind, units, issues)


def _parse_jsonl(lines: list[str], rel: str, issues: list[LoadIssue]) -> list[Unit]:
    units = []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict):
                raise ValueError(f"expected a JSON object, got {type(rec).__name__}")
            missing = [k for k in JSONL_REQUIRED if not rec.get(k)]
            if missing:
                raise ValueError(f"missing field(s) {missing}")
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            issues.append(LoadIssue(rel, i, f"malformed record ({exc}): kept as raw text"))
            units.append(Unit(line.strip(), i, i, f"L{i}", fields={"malformed": True}))
            continue
        meta: dict[str, Any] = rec["metadata"] if isinstance(rec.get("metadata"), dict) else {}
        head = " ".join(str(rec[k]) for k in ("id", "type", "timestamp") if rec.get(k))
        tail = "\n".join(f"{k}: {v}" for k, v in meta.items())
        text = f"{head}\n{rec['text']}" + (f"\n{tail}" if tail else "")
        fields = {"record_id": str(rec["id"]), **{k: v for k, v in meta.items() if isinstance(v, str | int | float)}}
        if rec.get("type"):
            fields["doc_type"] = str(rec["type"])
        ts = record_time(rec.get("timestamp"), (rel, i), issues)
        units.append(Unit(text, i, i, f"L{i}", timestamp=ts, fields=fields))
    return units


def _parse_csv(lines: list[str], rel: str, issues: list[LoadIssue]) -> list[Unit]:
    header_at = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if header_at is None:
        return []
    header = next(csv.reader([lines[header_at]]))
    key_col = next((j for j, h in enumerate(header) if h.strip().lower() in ("order_id", "order", "id")), 0)
    date_col = next((j for j, h in enumerate(header) if "date" in h.lower() or "time" in h.lower()), None)
    units = []
    for i in range(header_at + 1, len(lines)):
        line = lines[i]
        if not line.strip():
            continue
        try:
            row = next(csv.reader([line]))
        except csv.Error as exc:
            row, err = [], str(exc)
        else:
            err = "" if len(row) == len(header) else f"{len(row)} columns, header has {len(header)}"
        if err:
            issues.append(LoadIssue(rel, i + 1, f"malformed row ({err}): kept as raw text"))
            units.append(Unit(line, i + 1, i + 1, f"L{i + 1}", context=lines[header_at], fields={"malformed": True}))
            continue
        ts = record_time(row[date_col], (rel, i + 1), issues) if date_col is not None else None
        group = row[key_col] or f"L{i + 1}"
        units.append(Unit(line, i + 1, i + 1, group, context=lines[header_at], timestamp=ts))
    return units


def _parse_log(lines: list[str], rel: str, issues: list[LoadIssue]) -> list[Unit]:
    """Log events in the file's detected format (`ingest.logs`), grouped by shipment (tracking number).

    Space-separated columns ``<ISO time> <carrier> <tracking> ...`` group by their third column; other formats by
    a tracking field or token, else a reference. The parsed event is the unit's ``fields["event"]``.
    """
    fmt, events = parse_log(lines)
    context = lines[fmt.header_line - 1] if fmt.header_line else ""
    units = []
    for i, event in events:
        line = lines[i - 1]
        if event is None:
            why = f"not a log event ({fmt.name} lines, or a time then text): kept as raw text"
            issues.append(LoadIssue(rel, i, why))
            units.append(Unit(line, i, i, f"L{i}", context=context, fields={"malformed": True}))
            continue
        parts = line.split()
        if event["format"] == "text" and len(parts) >= 6 and "T" in parts[0] and any(c.isdigit() for c in parts[2]):
            group = parts[2]
        else:
            group = group_key(event) or f"L{i}"
        ts = record_time(event.get("timestamp"), (rel, i), issues)
        units.append(Unit(line, i, i, group, context=context, timestamp=ts, fields={"event": event}))
    return units


def _parse_md(lines: list[str], rel: str, issues: list[LoadIssue]) -> list[Unit]:
    """One group per ``##`` section, the title and heading as context, one unit per paragraph."""
    title, heading, section = "", "", 0
    units: list[Unit] = []
    para: list[str] = []
    start = 0

    def flush() -> None:
        if para:
            context = "\n".join(h for h in (title, heading) if h)
            units.append(Unit("\n".join(para), start, start + len(para) - 1, f"S{section}", context=context))
            para.clear()

    for i, line in enumerate(lines, start=1):
        if line.startswith("# "):
            flush()
            title = line.strip()
        elif line.startswith("## "):
            flush()
            heading, section = line.strip(), section + 1
        elif not line.strip():
            flush()
        else:
            if not para:
                start = i
            para.append(line)
    flush()
    return units


def _parse_txt(lines: list[str], rel: str, issues: list[LoadIssue]) -> list[Unit]:
    units: list[Unit] = []
    para: list[str] = []
    start = 0
    for i, line in enumerate([*lines, ""], start=1):
        if line.strip():
            if not para:
                start = i
            para.append(line)
        elif para:
            units.append(Unit("\n".join(para), start, i - 1, f"P{start}"))
            para = []
    return units


def record_time(value: object, where: tuple[str, int], issues: list[LoadIssue]) -> str | None:
    """A record's time in the stored form (`ingest.timestamps`); a value that is not a time is reported as
    ``file:line`` and the record keeps no time."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    out = normalize_timestamp(value if isinstance(value, str) else str(value))
    if out is None:
        issues.append(LoadIssue(*where, f"timestamp {str(value)[:40]!r} is not a date or an ISO date-time: "
                                        "record kept without a time"))
    return out


PARSERS: dict[str, Callable[[list[str], str, list[LoadIssue]], list[Unit]]] = {
    "jsonl": _parse_jsonl,
    "csv": _parse_csv,
    "log": _parse_log,
    "md": _parse_md,
    "txt": _parse_txt,
}
