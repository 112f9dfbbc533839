"""Write world b month by month: planted lines and filler sorted by time into per-year (notes: per-month) files."""

from __future__ import annotations

import json
import random
import shutil
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import IO, Protocol

from corpus.world_b.documents import standing_documents
from corpus.world_b.filler import order_events, random_order
from corpus.world_b.plan import new_plan, plant
from corpus.world_b.records import LEDGER_HEADER, MONTH_NAME, ORDERS_HEADER, Line, days_in, month_of, month_start
from corpus.world_b.vocab import N_MONTHS

TokenCounter = Callable[[list[str]], int]
CHARS_PER_TOKEN_START = 2.0
HEADERS = {"orders": ORDERS_HEADER, "ledger": LEDGER_HEADER}
KIND_OF_STREAM = {"orders": "orders", "ledger": "refunds", "rma": "returns", "notes": "notes"}


class WorldConfig(Protocol):
    """The fields of ``corpus.CorpusConfig`` world b reads."""

    @property
    def tenant(self) -> str: ...
    @property
    def tokens(self) -> int: ...
    @property
    def seed(self) -> int: ...
    @property
    def depth(self) -> float | None: ...
    @property
    def questions_per_type(self) -> int: ...


def path_for(line: Line) -> str:
    y, s = line.ts.year, line.stream
    if s == "orders":
        return f"orders/orders_{y}.csv"
    if s == "ledger":
        return f"ledger/refunds_{y}.csv"
    if s == "rma":
        return f"returns/rma_{y}.jsonl"
    if s == "notes":
        return f"casenotes/{y}-{line.ts.month:02d}.md"
    return f"carrier_feeds/{s.split(':', 1)[1].lower()}_{y}.log"


class MonthSink:
    """Appends one month's sorted lines to their files, adding headers and note headings; counts what it wrote."""

    def __init__(self, docs: Path, count: TokenCounter) -> None:
        self.docs, self.count = docs, count
        self.tokens = self.chars = 0
        self.lines_by_kind: dict[str, int] = defaultdict(int)
        self._open: dict[str, IO[str]] = {}
        self._note_day: dict[str, str] = {}

    def _file(self, rel: str, stream: str, m: int) -> tuple[IO[str], list[str]]:
        if rel in self._open:
            return self._open[rel], []
        path = self.docs / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        self._open[rel] = f = open(path, "w", encoding="utf-8", newline="\n")
        if stream == "notes":
            start = month_start(m)
            return f, [f"# Case notes, {MONTH_NAME[start.month - 1]} {start.year}", ""]
        return f, [HEADERS[stream]] if stream in HEADERS else []

    def _emit(self, f: IO[str], out: list[str]) -> None:
        f.write("\n".join(out) + "\n")
        self.chars += sum(len(x) + 1 for x in out)
        self.tokens += self.count([x for x in out if x])

    def document(self, rel: str, text: str) -> None:
        path = self.docs / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            self._emit(f, text.rstrip("\n").split("\n"))
        self.lines_by_kind[rel.split("/", 1)[0]] += text.count("\n")

    def month(self, m: int, lines: list[Line]) -> None:
        rendered: dict[str, list[str]] = defaultdict(list)
        handles: dict[str, IO[str]] = {}
        for line in sorted(lines, key=lambda x: (path_for(x), x.ts, x.text)):
            rel = path_for(line)
            if rel not in handles:
                handles[rel], head = self._file(rel, line.stream, m)
                rendered[rel] += head
            if line.stream == "notes":
                day = f"## {line.ts.date()}"
                if self._note_day.get(rel) != day:
                    self._note_day[rel] = day
                    rendered[rel] += [day, ""]
                rendered[rel] += [line.text, ""]
            else:
                rendered[rel].append(line.text)
            kind = KIND_OF_STREAM.get(line.stream, "scans")
            self.lines_by_kind[kind] += 1
        for rel, out in rendered.items():
            self._emit(handles[rel], out)
        if m % 12 == 11 or m == N_MONTHS - 1:
            self.close()
        else:  # a notes file holds one month
            for rel in [r for r in self._open if r.startswith("casenotes/")]:
                self._open.pop(rel).close()

    def close(self) -> None:
        for f in self._open.values():
            f.close()
        self._open.clear()


def prepare_output(out: Path) -> Path:
    """Check ``out`` is writable and holds nothing but an earlier corpus; return its (emptied) docs dir."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"output path {out} exists and is not a directory")
    if out.exists() and any(out.iterdir()) and not (out / "stats.json").exists():
        raise ValueError(f"output directory {out} is not empty and holds no earlier corpus: choose an empty one")
    out.mkdir(parents=True, exist_ok=True)
    docs = out / "docs"
    if docs.exists():
        shutil.rmtree(docs)
    docs.mkdir()
    return docs


def generate_world_b(out: Path, cfg: WorldConfig, count: TokenCounter,
                     progress: Callable[[int, int], None] | None = None) -> dict[str, object]:
    """Write world b to ``out/docs``, its ground truth to ``out/questions.jsonl``; return the statistics.

    ``progress(month, tokens_so_far)`` is called after each of the 96 months.
    """
    docs = prepare_output(out)
    plan = new_plan(cfg.seed, cfg.depth)
    buckets, questions = plant(plan, cfg.questions_per_type)
    standing = defaultdict(list)
    for day, rel, text in standing_documents():
        standing[month_of(day)].append((rel, text))
    sink = MonthSink(docs, count)
    pending: dict[int, list[Line]] = defaultdict(list)
    est, n_orders = 0.0, 0
    for m in range(N_MONTHS):
        rng = random.Random(f"b:{cfg.seed}:month:{m}")
        ratio = sink.chars / sink.tokens if sink.tokens else CHARS_PER_TOKEN_START
        for rel, text in standing.pop(m, []):
            sink.document(rel, text)
            est += len(text) / ratio
        planted = buckets.pop(m, [])
        est += sum(len(x.text) + 1 for x in planted) / ratio  # filler already counted when it was made
        month_lines = pending.pop(m, []) + planted
        target = cfg.tokens * (m + 1) / N_MONTHS
        while est < target:
            o = random_order(rng, plan, m)
            n_orders += 1
            for line in order_events(rng, plan, o):
                lm = month_of(line.ts.date())
                if lm == m:
                    month_lines.append(line)
                elif lm < N_MONTHS:
                    pending[lm].append(line)
                est += (len(line.text) + 1) / ratio
        sink.month(m, month_lines)
        if progress:
            progress(m, sink.tokens)
    sink.close()
    with open(out / "questions.jsonl", "w", encoding="utf-8") as f:
        for q in questions:
            f.write(json.dumps(q.record(N_MONTHS), ensure_ascii=False) + "\n")
    by_type: dict[str, int] = defaultdict(int)
    for q in questions:
        by_type[q.type] += 1
    stats: dict[str, object] = {
        "world": "b", "tenant": cfg.tenant, "seed": cfg.seed, "tokens_target": cfg.tokens,
        "tokens_measured": sink.tokens, "orders": n_orders, "questions": len(questions),
        "questions_by_type": dict(by_type), "lines_by_kind": dict(sink.lines_by_kind),
        "bytes": sum(p.stat().st_size for p in docs.rglob("*") if p.is_file()), "depth": cfg.depth,
        "history": f"{month_start(0)} .. {month_start(N_MONTHS - 1).replace(day=days_in(N_MONTHS - 1))}",
    }
    (out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    return stats
