"""Domain lookups for the KV compression eval: held-out generated corpora, packed as the pipeline packs them.

Each item is an ``eval.tuning`` eval example (``single_needle`` / ``multi_key`` questions of a corpus with a seed
>= 9000, BM25 candidates with the gold inserted, ``packing.pack`` order "ours", chat template). The pipeline puts
the best-ranked record, the gold, first (about 4% deep at 2K); a ``depth`` placement re-packs the same kept records
in rank order with the gold moved to that relative position, so the gold also sits mid-prompt and near the end.
The context is the prompt up to the closing ``Question:``; the question is the rest (question, instruction, the
assistant header), so "question outside" compresses the context before the closing question is seen.
Scored with ``eval.tuning.targets.is_correct`` (the domain eval's scorer).
"""

from __future__ import annotations

import json
import random
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from corpus import CorpusConfig, generate_corpus
from engine.kv import Segment
from engine.kv.segments import to_token_segments
from eval.kv.tasks import Needle
from eval.tuning.data import EVAL_SEED_MIN, LOOKUP_TYPES, _candidates, make_example
from eval.tuning.select import BM25, constraints_of, corpus_chunks, gold_chunks
from eval.tuning.targets import is_correct
from ingest.records import Chunk
from packing import Evidence, SegmentedPrompt, pack
from packing.packer import TokenizerLike

PLACEMENTS = ("pipeline", "0.5", "0.9")  # default mix: the pipeline's own placement, mid-prompt, near the end
# question-aware SnapKV at 2/4/8x, question-agnostic SnapKV 4x, the other policies at 4x, quantized full caches
CONFIGS = "snapkv@2,snapkv@4,snapkv@8,snapkv@4/outside,streamingllm@4,h2o@4,pyramidkv@4,int8,int4"
MAX_NEW = 36  # the longest target (multi-key: "The declared value of ... was $252.51 for 3 units [E1].") fits


class DomainTokenizer(TokenizerLike, Protocol):
    def encode(self, text: str) -> list[int]: ...

    def encode_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]: ...


@dataclass(frozen=True)
class DomainNeedle(Needle):
    """A packed domain prompt; ``depth`` is the gold record's measured relative position in the prompt."""

    accept: tuple[str, ...] = ()
    match: str = "all"
    qtype: str = ""
    qid: str = ""
    seed: int = 0
    budget: int = 0
    placement: str = "pipeline"
    gold_in_compressed_part: bool = True  # the gold record ends before the policy's protected last-window tokens
    question_in_window: int = 0  # tokens of the closing "Question: ..." line inside the observation window
    segments: tuple[Segment, ...] = ()  # the packer's record / question / instruction spans, in tokens of ``ids``
    task: ClassVar[str] = "domain"

    @property
    def key(self) -> str:
        return f"{self.seed}:{self.qid}:{self.budget}:{self.placement}"

    def correct(self, text: str) -> bool:
        return is_correct(text, self.accept, self.match, self.qtype)

    def gist(self, text: str) -> str:
        return " ".join(text.split()).lower()

    @property
    def cell(self) -> str:
        return f"{self.budget}@{self.depth:.1f}"

    def meta(self) -> dict[str, Any]:
        """What the results file records per item."""
        return {"qid": self.qid, "seed": self.seed, "type": self.qtype, "budget": self.budget,
                "placement": self.placement, "n_tokens": self.n_tokens, "question_tokens": len(self.question),
                "gold_depth": round(self.depth, 3), "gold_in_compressed_part": self.gold_in_compressed_part,
                "question_line_tokens_in_window": self.question_in_window, "accept": list(self.accept)}


def _moved(q: dict[str, Any], chunks: Sequence[Chunk], bm25: BM25, tok: TokenizerLike, budget: int,
           rng: random.Random, depth: float) -> dict[str, Any] | None:
    """``make_example`` with the gold moved to relative ``depth`` among the records the pipeline keeps."""
    text, gold = str(q["question"]), gold_chunks(q, chunks)
    ev, _ = _candidates(chunks, bm25.rank(text), gold, budget, rng, False)
    cons = constraints_of(text)
    kept = [p.id for p in pack(text, ev, tok, budget, order="ours", constraints=cons).evidence]
    by_id = {e.id: e for e in ev}
    gold_ids = {chunks[g].id for g in gold}
    rest = [by_id[i] for i in kept if i not in gold_ids]
    golds = [by_id[i] for i in kept if i in gold_ids]
    if len(golds) < len(gold_ids):
        return None
    at = round(depth * len(rest))
    order = rest[:at] + golds + rest[at:]
    ranked = [Evidence(e.id, e.source, e.text, e.score, r + 1, e.timestamp) for r, e in enumerate(order)]
    packed = pack(text, ranked, tok, budget, order="retrieval", constraints=cons, restate=True, promote=False)
    labels = sorted(p.label for p in packed.evidence if p.id in gold_ids)
    if len(labels) < len(gold_ids):
        return None
    return {"qid": q["id"], "type": q["type"], "budget": budget, "prompt": packed.prompt, "accept": q["accept"],
            "match": q["match"], "gold_labels": labels}


def to_needle(ex: dict[str, Any], tok: DomainTokenizer, seed: int, placement: str, window: int) -> DomainNeedle:
    """Split a packed example at its closing question and measure where the gold lies (tokens)."""
    prompt = ex["prompt"]
    cut = prompt.rfind("Question:")
    context, question = tok.encode(prompt[:cut]), tok.encode(prompt[cut:])
    line_end = prompt.index("\n", cut)
    after, line = len(tok.encode(prompt[line_end:])), len(tok.encode(prompt[cut:line_end]))
    n = len(context) + len(question)
    segments = _token_segments(prompt, cut, tok) if isinstance(prompt, SegmentedPrompt) else ()
    starts = [m.start() + 1 for lab in ex["gold_labels"] for m in re.finditer(rf"\n\[{lab}\] ", prompt[:cut])]
    if not starts:
        raise ValueError(f"gold labels {ex['gold_labels']} not found in the prompt of {ex['qid']}")
    first = len(tok.encode(prompt[:min(starts)]))
    ends = [prompt.find("\n\n", s) for s in starts]
    last = max(len(tok.encode(prompt[:e if e > 0 else cut])) for e in ends)
    return DomainNeedle(context, question, str(ex["accept"][0]), n, first / n, accept=tuple(map(str, ex["accept"])),
                        match=str(ex["match"]), qtype=str(ex["type"]), qid=str(ex["qid"]), seed=seed,
                        budget=int(ex["budget"]), placement=placement, gold_in_compressed_part=last <= n - window,
                        question_in_window=max(0, min(line, window - after)), segments=segments)


def _token_segments(prompt: SegmentedPrompt, cut: int, tok: DomainTokenizer) -> tuple[Segment, ...]:
    """The packer's character spans as token spans of ``encode(prompt[:cut]) + encode(prompt[cut:])`` (the
    context and the question are encoded apart, as the eval prefills them)."""
    out: list[Segment] = []
    shift = 0
    for a, b in ((0, cut), (cut, len(prompt))):
        ids, offsets = tok.encode_offsets(prompt[a:b])
        spans = [Segment(max(s.start, a) - a, min(s.end, b) - a, s.kind) for s in prompt.segments
                 if s.start < b and s.end > a]
        out += [Segment(s.start + shift, s.end + shift, s.kind) for s in to_token_segments(spans, offsets, b - a)]
        shift += len(ids)
    return tuple(out)


def domain_items(tok: DomainTokenizer, n: int, budget: int = 2048, placements: Sequence[str] = PLACEMENTS,
                 seed: int = EVAL_SEED_MIN, types: Sequence[str] = LOOKUP_TYPES, per_type: int = 2,
                 window: int = 32) -> list[DomainNeedle]:
    """``n`` lookup prompts of about ``budget`` tokens from held-out corpora ``seed``, ``seed + 1``, ...

    Item ``i`` is placed by ``placements[i % len(placements)]``: ``"pipeline"`` or a relative depth in [0, 1].
    """
    if seed < EVAL_SEED_MIN:
        raise ValueError(f"seed must be >= {EVAL_SEED_MIN} (held out from adapter training), got {seed}")
    for p in placements:
        if p != "pipeline" and not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"a placement is 'pipeline' or a depth in [0, 1], got {p!r}")
    out: list[DomainNeedle] = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in range(seed, seed + 10 * n):
            if len(out) >= n:
                break
            path = Path(tmp) / f"c{s}"
            generate_corpus(path, CorpusConfig(tenant=f"t{s}", tokens=20_000, seed=s, questions_per_type=per_type))
            chunks = corpus_chunks(path / "docs", tok.count)
            bm25 = BM25([c.text for c in chunks])
            qs = [json.loads(line) for line in (path / "questions.jsonl").read_text().splitlines() if line]
            rng = random.Random(f"kv:{s}")
            for q in (q for q in qs if q["type"] in types):
                if len(out) >= n:
                    break
                place = placements[len(out) % len(placements)]
                ex = (make_example(q, chunks, bm25, tok, budget, rng) if place == "pipeline"
                      else _moved(q, chunks, bm25, tok, budget, rng, float(place)))
                if ex:
                    out.append(to_needle(ex, tok, s, place, window))
    return out
