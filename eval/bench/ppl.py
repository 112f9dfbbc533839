"""Perplexity of a weight format on held-out generated text, scored the way the engine computes it.

The first ``prefill`` tokens are scored from one forward pass (the prefill path: dequantized weights, fp32 matmuls);
the next ``decode`` tokens one at a time through the LLM's decode step (for quantized weights the fused kernel
with int8 activation blocks and the fp16 KV cache), teacher-forced. The text is a generated history (world b, a seed
no eval uses), so no format was tuned on it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from engine.llm import LLM

CORPUS = Path(".longhaul") / "bench" / "ppl-world-b-seed-91"


def held_out_ids(llm: LLM, n_tokens: int) -> list[int]:
    """``n_tokens`` token ids of a generated history (made once under .longhaul/, reused after)."""
    from eval.corpora import generated

    root = generated(CORPUS, tokens=max(4 * n_tokens, 20000), seed=91, world="b", tenant="ppl")
    text = "\n\n".join(p.read_text() for p in sorted((root / "docs").rglob("*")) if p.is_file())
    ids = llm.tokenizer.encode(text)
    if len(ids) < n_tokens:
        raise ValueError(f"the held-out corpus has {len(ids)} tokens, fewer than the {n_tokens} asked for")
    return ids[:n_tokens]


@torch.inference_mode()
def perplexity(llm: LLM, ids: list[int], prefill: int) -> dict[str, float]:
    """``{"ppl", "ppl_prefill_path", "ppl_decode_path", "tokens"}`` of ``ids`` (the first token is context only)."""
    if not 1 < prefill < len(ids):
        raise ValueError(f"prefill must lie in (1, {len(ids)}), got {prefill}")
    llm._cached_ids = []
    cache = llm._admit(len(ids), None)
    x = torch.tensor([ids[:prefill]])
    logits = llm.model(x, 0, cache).float()[0]  # (prefill, vocab)
    nll_pre = torch.nn.functional.cross_entropy(logits[:-1], x[0, 1:], reduction="sum").item()
    nll_pre -= torch.log_softmax(logits[-1], -1)[ids[prefill]].item()
    step = llm._decoder(cache)
    nll_dec = 0.0
    for pos in range(prefill, len(ids) - 1):
        out = step(torch.tensor([ids[pos]]), pos).float().view(-1)
        nll_dec -= torch.log_softmax(out, -1)[ids[pos + 1]].item()
    llm._cache, llm._cached_ids = None, []  # the cache holds teacher-forced tokens: do not reuse it as a prefix
    n_pre, n_dec = prefill, len(ids) - 1 - prefill
    return {"ppl": math.exp((nll_pre + nll_dec) / (n_pre + n_dec)), "ppl_prefill_path": math.exp(nll_pre / n_pre),
            "ppl_decode_path": math.exp(nll_dec / n_dec), "tokens": float(n_pre + n_dec)}


def compare(weights: list[str], *, n_tokens: int = 768, prefill: int = 384, adapter: str | None = None,
            threads: int = 2) -> dict[str, Any]:
    """Perplexity of fp32 and each format in ``weights`` (same text, same adapter merged before quantizing), and
    each format's relative change against fp32."""
    torch.set_num_threads(threads)
    results: dict[str, Any] = {}
    ids: list[int] = []
    for w in ["fp32", *[w for w in weights if w != "fp32"]]:
        llm = LLM.load(weights=w, adapter=adapter or None, max_seq_len=n_tokens + 8)
        ids = ids or held_out_ids(llm, n_tokens)
        results[w] = perplexity(llm, ids, prefill)
    base = results["fp32"]["ppl"]
    for r in results.values():
        r["rel_change"] = r["ppl"] / base - 1.0
    return {"ppl": results, "adapter": adapter or "none", "text": str(CORPUS)}


if __name__ == "__main__":  # python -m eval.bench.ppl --weights q4,int8 --adapter auto --tokens 1024
    import argparse
    import datetime as dt
    import json
    import os
    import sys

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--weights", default="q4,int8")
    ap.add_argument("--adapter", default="auto", help="auto: the bundled domain adapter merged before quantizing")
    ap.add_argument("--tokens", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="eval/results/engine_cpu_quant_ppl.json")
    a = ap.parse_args()
    load_start = os.getloadavg()[0]
    res = compare([w for w in a.weights.split(",") if w], n_tokens=a.tokens, prefill=a.tokens // 2,
                  adapter=None if a.adapter == "none" else a.adapter, threads=a.threads)
    res |= {"command": "python -m eval.bench.ppl " + " ".join(sys.argv[1:]), "load_avg_1m_start": load_start,
            "load_avg_1m_end": os.getloadavg()[0], "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    Path(a.out).write_text(json.dumps(res, indent=2) + "\n")
    sys.stdout.write(json.dumps({w: r["rel_change"] for w, r in res["ppl"].items()}) + "\n")
