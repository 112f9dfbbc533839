"""SnapKV variants on the domain lookups: does any setting keep the facts a 4x cache loses?

``python -m eval.kv.snapkv_variants --n 24 --budget 2048 --out eval/results/snapkv_variants_domain.json``

Runs the tuned model (bundled adapter) on the same held-out items as ``longhaul eval kv --task domain`` and compares
SnapKV as shipped (window 32, max-pool 7) with: a wider observation window (48, 64: the whole closing question
votes), wider pooling (15), one selection shared by the KV heads of a layer (votes averaged over heads), both, and
AdaKV's per-head budgets. All at 4x, question inside.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch

from engine.kv import AdaKV, KVSpec, ScoreInputs, SnapKV
from engine.llm import LLM
from eval.kv import domain as kv_domain
from eval.kv import sweep as kv


# one subclass per setting: the eval keys its rows by policy name, so each variant needs its own
@dataclass
class SnapKVWindow48(SnapKV):
    window: int = 48


@dataclass
class SnapKVWindow64(SnapKV):
    window: int = 64


@dataclass
class SnapKVKernel15(SnapKV):
    kernel: int = 15


@dataclass
class SnapKVSharedHeads(SnapKV):
    """One selection for every KV head of a layer: the pooled votes averaged over heads, (B, Hkv, n)."""

    def score(self, inputs: ScoreInputs) -> torch.Tensor:
        s = super().score(inputs)
        return s.mean(dim=1, keepdim=True).expand_as(s).contiguous()


@dataclass
class SnapKVSharedHeadsKernel15(SnapKVSharedHeads):
    kernel: int = 15


def variants(ratio: float = 4.0) -> list[tuple[str, KVSpec]]:
    pols = [SnapKV(ratio=ratio), SnapKVWindow48(ratio=ratio), SnapKVWindow64(ratio=ratio),
            SnapKVKernel15(ratio=ratio), SnapKVSharedHeads(ratio=ratio), SnapKVSharedHeadsKernel15(ratio=ratio),
            AdaKV(inner=SnapKV(ratio=ratio))]
    return [("inside", KVSpec(p)) for p in pols]


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=24)
    p.add_argument("--budget", type=int, default=2048)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="eval/results/snapkv_variants_domain.json")
    a = p.parse_args(argv)
    llm = LLM.load(None, threads=a.threads, max_seq_len=a.budget + 256)
    items = kv_domain.domain_items(llm.tokenizer, a.n, a.budget, kv_domain.PLACEMENTS)
    acc = kv.run(llm, items=items, configs=variants(), max_new=kv_domain.MAX_NEW, stop=llm.tokenizer.eos_id,
                 progress=lambda m: print(m, file=sys.stderr, flush=True))
    full = next(r["accuracy"] for r in acc["rows"] if r["policy"] == "full")
    rows = [{k: r[k] for k in ("policy", "ratio", "accuracy", "agreement", "correct_by_len_depth", "n")}
            | {"rel_acc": round(r["accuracy"] / full, 3) if full else None} for r in acc["rows"]]
    out = {"command": "python -m eval.kv.snapkv_variants " + " ".join(sys.argv[1:] if argv is None else argv),
           "date": datetime.now(UTC).isoformat(timespec="seconds"), "model": f"SmolLM2-135M + {llm.adapter}",
           "budget": a.budget, "n": len(items), "threads": a.threads, "variants": rows,
           "items": [it.meta() for it in items]}
    if a.out:
        Path(a.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({r["policy"]: r["rel_acc"] for r in rows}))
    return out


if __name__ == "__main__":
    main()
