"""Log lines in several formats parsed into events, the format detected per file and retried per line.

Formats (`FORMATS`): ``delimited`` (``|``, tab or ``;`` with a consistent field count; a header row names the
fields, else ``timestamp`` and ``f1``, ``f2``...), ``kv`` (``key=value`` pairs, values optionally quoted) and
``text`` (a leading timestamp, then free text; ``@FACILITY``, ``[ref N]`` / ``ref N`` and a tracking-like token are
picked out). An event is a dict of strings with ``format`` and, when found, ``timestamp`` (ISO, ``T`` between date
and time). A line no format reads gives None: the caller reports it with file:line and keeps it as text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

Event = dict[str, str]

TS_RE = re.compile(r"\[?(?P<ts>\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?)\]?")
KV_RE = re.compile(r"(?<![\w.\-])([A-Za-z_][\w.\-]*)=(\"[^\"]*\"|'[^']*'|\S+)")
AT_RE = re.compile(r"(?<![\w@])@([A-Za-z0-9][A-Za-z0-9_\-]*[A-Za-z0-9])")
REF_RE = re.compile(r"\[?\b(?:ref|reference|order)[ :#]{1,3}([A-Za-z0-9\-]+)\]?", re.IGNORECASE)
TRACKING_RE = re.compile(r"(?<![\w\-])(?:[A-Z]{1,4}\d{8,}[A-Z]{0,2}|\d{10,22}|1Z[0-9A-Z]{16})(?![\w\-])")
_MONTHS = {
    m: i
    for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)
}
_MON = r"(?P<mon>[A-Za-z]{3})[a-z]*\.?"
_CLOCK = r"(?:,?[ T](?P<hm>\d{1,2}:\d{2}(?::\d{2})?))?"
# "Jan 27 2019 15:34", "Jan 27, 2019", "27 Jan 2019 15:34": a month named in words, then an optional clock time
WORD_TS_RE = re.compile(
    rf"\[?(?:{_MON} (?P<d1>\d{{1,2}}),? (?P<y1>\d{{4}})"
    rf"|(?P<d2>\d{{1,2}}) {_MON.replace('mon', 'mon2')} (?P<y2>\d{{4}})){_CLOCK}\]?"
)
DELIMITERS = ("|", "\t", ";")
TIME_KEYS = frozenset({"ts", "time", "timestamp", "at", "date", "datetime", "when"})
GROUP_KEYS = ("tracking", "tracking_no", "tracking_number", "awb", "parcel", "shipment")


def iso(ts: str) -> str:
    """``2021-03-02 14:05`` -> ``2021-03-02T14:05`` (ISO timestamps sort as strings)."""
    return ts[:10] + "T" + ts[11:] if len(ts) > 10 and ts[10] == " " else ts


def lead_timestamp(s: str) -> tuple[str, int] | None:
    """The timestamp that ``s`` starts with, as ISO, and where it ends; ISO forms and month-name forms."""
    m = TS_RE.match(s)
    if m is not None:
        return iso(m.group("ts")), m.end()
    w = WORD_TS_RE.match(s)
    if w is None:
        return None
    mon = _MONTHS.get((w.group("mon") or w.group("mon2") or "").lower()[:3])
    if mon is None:
        return None
    day, year = int(w.group("d1") or w.group("d2")), w.group("y1") or w.group("y2")
    if not 1 <= day <= 31:
        return None
    out = f"{year}-{mon:02d}-{day:02d}"
    if w.group("hm"):
        hm = w.group("hm")
        out += "T" + (hm if len(hm.split(":")[0]) == 2 else "0" + hm)
    return out, w.end()


@dataclass(frozen=True)
class LogFormat:
    name: str  # one of FORMATS
    delimiter: str = ""
    fields: tuple[str, ...] = ()  # delimited: the field names
    header_line: int = 0  # delimited: 1-based line of the header row (0 = none)


def _parse_delimited(line: str, fmt: LogFormat) -> Event | None:
    cells = [c.strip() for c in line.split(fmt.delimiter)]
    if len(cells) != len(fmt.fields):
        return None
    event = {"format": "delimited", **{k: v for k, v in zip(fmt.fields, cells, strict=True) if v}}
    if "timestamp" not in event:
        ts = next((c for c in cells if TS_RE.fullmatch(c)), None)
        if ts:
            event["timestamp"] = iso(TS_RE.fullmatch(ts).group("ts"))  # type: ignore[union-attr]
    elif TS_RE.fullmatch(event["timestamp"]):
        event["timestamp"] = iso(TS_RE.fullmatch(event["timestamp"]).group("ts"))  # type: ignore[union-attr]
    return event


def _parse_kv(line: str, fmt: LogFormat) -> Event | None:
    pairs = KV_RE.findall(line)
    if len(pairs) < 2:
        return None
    event = {"format": "kv"}
    for k, v in pairs:
        event[k.lower()] = v[1:-1] if v[:1] in "\"'" else v
    if "timestamp" not in event:
        key = next((k for k in event if k in TIME_KEYS), None)
        lead = TS_RE.match(line.strip())
        if key:
            event["timestamp"] = iso(event[key])
        elif lead:
            event["timestamp"] = iso(lead.group("ts"))
    return event


def _parse_text(line: str, fmt: LogFormat) -> Event | None:
    s = line.strip()
    lead = lead_timestamp(s)
    if lead is None or "T" not in lead[0] and len(s.split()) < 3:
        return None
    rest = s[lead[1] :].strip()
    if not rest:
        return None
    event = {"format": "text", "timestamp": lead[0], "message": rest}
    if at := AT_RE.search(rest):
        event["facility"] = at.group(1)
    if ref := REF_RE.search(rest):
        event["ref"] = ref.group(1)
    if tr := TRACKING_RE.search(rest):
        event["tracking"] = tr.group(0)
    return event


FORMATS: dict[str, Callable[[str, LogFormat], Event | None]] = {
    "delimited": _parse_delimited,
    "kv": _parse_kv,
    "text": _parse_text,
}


def _header(cells: list[str]) -> bool:
    return all(c and not any(ch.isdigit() for ch in c) and re.fullmatch(r"[A-Za-z_ .\-]+", c) for c in cells)


def detect_format(lines: list[str]) -> LogFormat:
    """The format most of ``lines`` (a file or a block of it) are in; ``text`` when nothing else fits."""
    sample = [(i, ln) for i, ln in enumerate(lines, start=1) if ln.strip()][:500]
    if not sample:
        return LogFormat("text")
    for d in DELIMITERS:
        counts = Counter(ln.count(d) for _, ln in sample)
        n, hits = counts.most_common(1)[0]
        if n >= 2 and hits >= 0.6 * len(sample):
            first_i, first = next((i, ln) for i, ln in sample if ln.count(d) == n)
            cells = [c.strip() for c in first.split(d)]
            if _header(cells):
                names = tuple(re.sub(r"[^a-z0-9]+", "_", c.lower()).strip("_") for c in cells)
                return LogFormat("delimited", d, names, first_i)
            rows = [[c.strip() for c in ln.split(d)] for _, ln in sample if ln.count(d) == n]
            names = tuple(
                "timestamp" if sum(bool(TS_RE.fullmatch(r[j])) for r in rows) >= 0.8 * len(rows) else f"f{j + 1}"
                for j in range(n + 1)
            )
            return LogFormat("delimited", d, names)
    if sum(len(KV_RE.findall(ln)) >= 2 for _, ln in sample) >= 0.6 * len(sample):
        return LogFormat("kv")
    return LogFormat("text")


def parse_line(line: str, fmt: LogFormat) -> Event | None:
    """The event of one line: the file's format first, then the others; None when none reads it."""
    order = [fmt.name, *(n for n in FORMATS if n != fmt.name)]
    for name in order:
        if name == "delimited" and fmt.name != "delimited":
            continue  # a delimited line is only read with its file's field names
        event = FORMATS[name](line, fmt)
        if event is not None:
            return event
    return None


def parse_log(lines: list[str]) -> tuple[LogFormat, list[tuple[int, Event | None]]]:
    """The detected format and ``(line number, event or None)`` for every non-empty line but a header row."""
    fmt = detect_format(lines)
    out = []
    for i, line in enumerate(lines, start=1):
        if line.strip() and i != fmt.header_line:
            out.append((i, parse_line(line, fmt)))
    return fmt, out


def group_key(event: Event) -> str | None:
    """What groups an event with its shipment's others: a tracking field or token, else a reference."""
    for key in GROUP_KEYS:
        if event.get(key):
            return event[key]
    for value in event.values():
        if TRACKING_RE.fullmatch(value):
            return value
    return event.get("ref") or event.get("order") or None
