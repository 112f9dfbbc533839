"""Stream a generated history to disk month by month, with bounded memory and a measured token count."""

from __future__ import annotations

import json
import random
import shutil
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from corpus.domain import fc_by_code
from corpus.notes import filler_note, note_section_heading
from corpus.orders import Ctx, Question
from corpus.planted import MONTHS, PLANTERS, canonical
from corpus.policies import policies
from corpus.world import (
    N_MONTHS,
    Emitted,
    IdAllocator,
    at,
    build_catalog,
    filler_order_events,
    month_of,
    month_start,
    random_order,
)

TokenCounter = Callable[[list[str]], int]
MANIFEST_HEADER = "order_id,order_date,customer,fc,carrier,tracking,sku,category,qty,declared_value_usd,ship_date"
CHARS_PER_TOKEN_START = 2.0  # digits tokenize one by one: order logs run about 2 characters per token
WORLD_NAMES = ("a", "b")  # corpus.WORLDS holds their generators


def estimate_tokens(lines: list[str]) -> int:
    """A tokenizer-free estimate (characters / 2), for machines without the model package."""
    return sum(len(x) + 1 for x in lines) // 2


@dataclass(frozen=True)
class CorpusConfig:
    tenant: str = "demo"
    tokens: int = 200_000
    seed: int = 0
    depth: float | None = None  # relative position of planted facts; None spreads them over the history
    questions_per_type: int = 4
    world: str = "a"  # which generator writes the history: see corpus.WORLDS

    def __post_init__(self) -> None:
        if self.world not in WORLD_NAMES:
            raise ValueError(f"--world must be one of {list(WORLD_NAMES)}, got {self.world!r}")
        if self.tokens < 20_000:
            raise ValueError(f"--tokens must be at least 20000 (the planted facts alone need that), got {self.tokens}")
        if self.depth is not None and not 0.0 <= self.depth <= 1.0:
            raise ValueError(f"--depth must lie in [0, 1], got {self.depth}")
        if self.questions_per_type < 1:
            raise ValueError(f"--questions-per-type must be >= 1, got {self.questions_per_type}")


class MonthWriter:
    """Writes one month's records into the per-kind files and counts their tokens."""

    def __init__(self, docs: Path, count: TokenCounter) -> None:
        self.docs, self.count = docs, count
        self.tokens = self.chars = 0
        self.files: dict[str, int] = defaultdict(int)
        self._year_files: dict[str, IO[str]] = {}
        self._year = -1
        for sub in ("manifests", "scans", "notes", "refunds", "policies"):
            (docs / sub).mkdir(parents=True, exist_ok=True)

    def _lines(self, kind: str, lines: list[str]) -> None:
        self.tokens += self.count(lines)
        self.chars += sum(len(x) + 1 for x in lines)
        self.files[kind] += len(lines)

    def _year_file(self, kind: str, year: int) -> IO[str]:
        if year != self._year:
            self.close()
            self._year = year
            self._year_files = {
                "manifests": open(self.docs / "manifests" / f"manifest_{year}.csv", "w", encoding="utf-8"),
                "refunds": open(self.docs / "refunds" / f"refunds_{year}.jsonl", "w", encoding="utf-8"),
            }
            self._year_files["manifests"].write(MANIFEST_HEADER + "\n")
            self._lines("manifests", [MANIFEST_HEADER])
        return self._year_files[kind]

    def write_text(self, rel: str, text: str, kind: str) -> None:
        (self.docs / rel).write_text(text, encoding="utf-8")
        self._lines(kind, text.splitlines())

    def month(self, m: int, em: Emitted, rng: random.Random) -> None:
        start = month_start(m)
        rows = [r for _, r in sorted(em.manifest, key=lambda x: x[0])]
        f = self._year_file("manifests", start.year)
        f.writelines(r + "\n" for r in rows)
        self._lines("manifests", rows)
        refunds = [r for _, r in sorted(em.refunds, key=lambda x: x[0])]
        self._year_file("refunds", start.year).writelines(r + "\n" for r in refunds)
        self._lines("refunds", refunds)
        if em.scans:
            scans = [s for _, s in sorted(em.scans, key=lambda x: x[0])]
            self.write_text(f"scans/scans_{start.year}_{start.month:02d}.log", "\n".join(scans) + "\n", "scans")
        by_fc: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
        for ts, fc, para in em.notes:
            by_fc[fc].append((ts, para))
        for fc in sorted(by_fc):
            head = f"# {fc} warehouse notes, {MONTHS[start.month - 1]} {start.year} ({fc_by_code(fc).city})"
            parts = [head, ""]
            for ts, para in sorted(by_fc[fc], key=lambda x: x[0]):
                parts += [note_section_heading(ts, rng), "", para, ""]
            self.write_text(f"notes/{fc}_{start.year}_{start.month:02d}.md", "\n".join(parts), "notes")

    def close(self) -> None:
        for f in self._year_files.values():
            f.close()
        self._year_files = {}


def prepare_output(out: Path) -> Path:
    """Check ``out`` is writable and holds nothing but an earlier corpus; return its (emptied) docs dir."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"output path {out} exists and is not a directory")
    if out.exists() and any(out.iterdir()) and not (out / "stats.json").exists():
        raise ValueError(f"output directory {out} is not empty and holds no earlier corpus: choose an empty one")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-probe"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise PermissionError(f"cannot write to output directory {out}: {exc.strerror}") from exc
    docs = out / "docs"
    if docs.exists():
        shutil.rmtree(docs)
    return docs


def plan(cfg: CorpusConfig, ctx: Ctx) -> tuple[dict[int, Emitted], list[Question]]:
    """Build every planted fact up front (small), bucketed by the month each record falls in."""
    buckets: dict[int, Emitted] = defaultdict(Emitted)
    questions: list[Question] = []
    jobs = [(t, i) for i in range(cfg.questions_per_type) for t in PLANTERS]
    for k, (kind, i) in enumerate(jobs):
        d = cfg.depth if cfg.depth is not None else (k + 0.5) / len(jobs)
        m = min(N_MONTHS - 4, round(d * (N_MONTHS - 1)))
        em, qs = PLANTERS[kind](ctx, m, i)
        _bucket(buckets, em)
        questions += qs
    em, qs = canonical(ctx, 62)
    _bucket(buckets, em)
    return buckets, qs + questions


def _bucket(buckets: dict[int, Emitted], em: Emitted) -> None:
    for ts, row in em.manifest:
        buckets[month_of(ts)].manifest.append((ts, row))
    for ts, line in em.scans:
        buckets[month_of(ts)].scans.append((ts, line))
    for ts, fc, para in em.notes:
        buckets[month_of(ts)].notes.append((ts, fc, para))
    for ts, rec in em.refunds:
        buckets[month_of(ts)].refunds.append((ts, rec))


def _chars(em: Emitted) -> int:
    """Characters ``em`` adds to the files: records plus newlines, note sections plus their headings."""
    return (sum(len(r) + 1 for _, r in em.manifest) + sum(len(s) + 1 for _, s in em.scans)
            + sum(len(p) + 34 for _, _, p in em.notes) + sum(len(r) + 1 for _, r in em.refunds))


def generate_corpus(out: Path, cfg: CorpusConfig, count: TokenCounter = estimate_tokens,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, object]:
    """Write the history to ``out/docs``, the ground truth to ``out/questions.jsonl``; return the statistics.

    ``progress(month, tokens_so_far)`` is called after each of the 120 months.
    """
    docs = prepare_output(out)
    ids = IdAllocator(random.Random(f"{cfg.seed}:ids"), 5 if cfg.tokens < 6_000_000 else 6)
    ids.reserve(48291)
    ctx = Ctx(random.Random(f"{cfg.seed}:plan"), ids, build_catalog(random.Random(f"{cfg.seed}:catalog")), [0])
    buckets, questions = plan(cfg, ctx)
    writer = MonthWriter(docs, count)
    pending: dict[int, Emitted] = defaultdict(Emitted)
    pols = sorted(policies(), key=lambda p: p.effective)
    est_tokens, n_orders = 0.0, 0
    for m in range(N_MONTHS):
        rng = random.Random(f"{cfg.seed}:month:{m}")
        ratio = writer.chars / writer.tokens if writer.tokens else CHARS_PER_TOKEN_START
        for p in pols:
            if month_of(p.effective) == m:
                writer.write_text(f"policies/{p.filename}", p.render(), "policies")
                est_tokens += len(p.render()) / ratio
        planted = buckets.pop(m, Emitted())
        pending[m].extend(planted)
        est_tokens += _chars(planted) / ratio
        recent = []
        target = cfg.tokens * (m + 1) / N_MONTHS
        while est_tokens < target:
            o = random_order(rng, ids, ctx.catalog, m)
            n_orders += 1
            recent.append(o)
            em = filler_order_events(rng, o, ctx.refund_seq)
            if len(recent) % 4 == 0:
                em.notes.append(filler_note(rng, at(o.placed, rng), o.fc, recent[-4:]))
            _bucket(pending, em)
            est_tokens += _chars(em) / ratio
        writer.month(m, pending.pop(m), rng)
        if progress:
            progress(m, writer.tokens)
    writer.close()
    with open(out / "questions.jsonl", "w", encoding="utf-8") as f:
        for q in questions:
            f.write(json.dumps(q.record(N_MONTHS), ensure_ascii=False) + "\n")
    by_type: dict[str, int] = defaultdict(int)
    for q in questions:
        by_type[q.type] += 1
    stats: dict[str, object] = {
        "tenant": cfg.tenant, "seed": cfg.seed, "tokens_target": cfg.tokens, "tokens_measured": writer.tokens,
        "orders": n_orders, "questions": len(questions), "questions_by_type": dict(by_type),
        "lines_by_kind": dict(writer.files), "bytes": sum(p.stat().st_size for p in docs.rglob("*") if p.is_file()),
        "depth": cfg.depth, "history": f"{month_start(0)} .. {month_start(N_MONTHS)}",
    }
    (out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    return stats
