"""Batched serving throughput: the serving core (engine/llm_engine.py) vs transformers ``generate()`` at the same
batch sizes, same weights, same prompts, in one run.

For each batch size B: B random prompts of ``prompt_len`` tokens, ``decode_tokens`` greedy new tokens each. Ours:
every request submitted at once, stepped to the end; total output tok/s (prefill included) and decode tok/s (the
decode-only steps). Transformers: ``generate()`` on the (B, prompt_len) batch, total output tok/s, and decode tok/s
after subtracting a one-token ``generate()``. On GPU the HBM roofline of a decode step (every weight once plus each
sequence's KV once, over the measured copy rate) gives the fraction of what the memory allows.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any, cast

import torch

from engine.llm import LLM
from engine.llm_engine import EngineConfig
from engine.sequence import SamplingParams

log = logging.getLogger(__name__)
RESULTS = Path(__file__).resolve().parents[1] / "results"


def _sync(llm: LLM) -> None:
    if llm.device.type == "cuda":
        torch.cuda.synchronize()


def _prompts(llm: LLM, n: int, length: int, seed: int) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, min(llm.config.vocab_size, 30000), (n, length), generator=g).tolist()


def ours(llm: LLM, prompts: list[list[int]], decode_tokens: int) -> dict[str, float]:
    """Total and decode-phase output tok/s of the serving core on ``prompts`` (all submitted at once)."""
    engine = llm.serving()
    engine.blocks.by_hash.clear()  # no prefix reuse between runs
    params = SamplingParams(max_tokens=decode_tokens, ignore_eos=True)
    seqs = [engine.add(p, params) for p in prompts]
    decode_s, decode_tok = 0.0, 0
    _sync(llm)
    t0 = time.perf_counter()
    while engine.has_work():
        batch = engine.scheduler.schedule()
        t = time.perf_counter()
        engine._postprocess(batch, engine.runner.run(batch))  # greedy: one host sync per step
        if all(n == 1 for _, n in batch):
            decode_s += time.perf_counter() - t
            decode_tok += len(batch)
    total = time.perf_counter() - t0
    out = sum(s.num_new for s in seqs)
    return {"tok_s": out / total, "decode_tok_s": decode_tok / decode_s if decode_s else 0.0, "seconds": total,
            "preemptions": engine.scheduler.preemptions}


def hf_generate(hf: torch.nn.Module, llm: LLM, prompts: list[list[int]], decode_tokens: int) -> dict[str, float]:
    """transformers ``generate()`` on the same batch: total output tok/s, and decode tok/s (minus a 1-token run)."""
    ids = torch.tensor(prompts, device=llm.device)
    kw = {"do_sample": False, "pad_token_id": 0}  # min_new_tokens masks the end token: exactly n tokens

    def run(n: int) -> float:
        _sync(llm)
        t = time.perf_counter()
        with torch.inference_mode():
            cast(Any, hf).generate(ids, max_new_tokens=n, min_new_tokens=n, **kw)
        _sync(llm)
        return time.perf_counter() - t

    total, first = run(decode_tokens), run(1)
    B = len(prompts)
    return {"tok_s": B * decode_tokens / total,
            "decode_tok_s": B * (decode_tokens - 1) / max(total - first, 1e-9), "seconds": total}


def roofline_tok_s(llm: LLM, batch: int, context: int, bandwidth: float) -> float:
    """Output tok/s if a decode step only read every weight once and each sequence's KV once at ``bandwidth``."""
    from eval.bench.engine_gpu import decode_bytes

    weights = decode_bytes(llm, 0)
    return batch / ((weights + batch * llm.kv_bytes_for(context)) / bandwidth)


def run(device: str = "cpu", model: str | None = None, batches: tuple[int, ...] = (1, 8, 32, 64),
        prompt_len: int = 2048, decode_tokens: int = 64, threads: int = 2, graph: bool | None = None,
        peer: bool = True, command: str = "", out: Path | None = None) -> dict[str, Any]:
    """Run the benchmark, write ``eval/results/engine_batch_{cpu,gpu}.json`` and return the report."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    torch.set_num_threads(threads)
    gpu = device.startswith("cuda")
    dtype = torch.bfloat16 if gpu else torch.float32
    name = model or ("synthetic:llama3-8b" if gpu else None)
    total_len = prompt_len + decode_tokens
    llm = LLM.load(name, device=device, dtype=dtype, max_seq_len=max(total_len + 64, 1024), adapter=None)
    bs, maxb = 64, max(batches)
    cfg = EngineConfig(kv_blocks=maxb * -(-total_len // bs) + 2, block_size=bs, max_num_seqs=maxb,
                       max_num_batched_tokens=max(8192 if gpu else 2048, maxb), graph=gpu if graph is None else graph)
    bandwidth = 0.0
    if gpu:
        from eval.bench.engine_gpu import copy_bandwidth

        bandwidth = copy_bandwidth()
    # exactness on this model: a small batch against LLM.generate, one by one
    check = _prompts(llm, 4, min(prompt_len, 300), seed=1)
    solo = [llm.generate(p, max_new_tokens=16, ignore_eos=True).token_ids for p in check]
    llm.serving(cfg)
    batched = [g.token_ids for g in llm.generate_batch(check, SamplingParams(max_tokens=16, ignore_eos=True))]
    match = sum(a == b for a, b in zip(solo, batched, strict=True)) / len(solo)
    hf = None
    if peer:
        from eval.bench.engine import _hf_gguf, hf_from_engine

        if name is None:
            from engine.assets import smollm2_gguf

            hf = _hf_gguf(smollm2_gguf())
        else:
            hf = hf_from_engine(llm.model)
    ours(llm, _prompts(llm, min(maxb, 4), 64, seed=2), 4)  # warm-up (kernel compiles)
    llm.generate(_prompts(llm, 1, prompt_len, seed=3)[0], max_new_tokens=decode_tokens, ignore_eos=True)
    llm.generate(_prompts(llm, 1, prompt_len, seed=4)[0], max_new_tokens=decode_tokens, ignore_eos=True)
    single = llm.generate(_prompts(llm, 1, prompt_len, seed=5)[0], max_new_tokens=decode_tokens, ignore_eos=True)
    rows = []
    for B in batches:
        prompts = _prompts(llm, B, prompt_len, seed=100 + B)
        row: dict[str, Any] = {"batch": B, **ours(llm, prompts, decode_tokens)}
        if hf is not None:
            theirs = hf_generate(hf, llm, prompts, decode_tokens)
            row |= {"hf_tok_s": theirs["tok_s"], "hf_decode_tok_s": theirs["decode_tok_s"],
                    "vs_hf": row["tok_s"] / theirs["tok_s"],
                    "decode_vs_hf": row["decode_tok_s"] / max(theirs["decode_tok_s"], 1e-9)}
        if gpu:
            roof = roofline_tok_s(llm, B, prompt_len + decode_tokens // 2, bandwidth)
            row |= {"roofline_tok_s": roof, "decode_roofline_frac": row["decode_tok_s"] / roof}
        rows.append(row)
        log.info("%s", json.dumps(row))
    prefix = "gpu" if gpu else "cpu"
    key = f"{prompt_len // 1024}k" if prompt_len % 1024 == 0 else str(prompt_len)
    summary: dict[str, Any] = {"greedy_match_frac": match, "single_stream_decode_tok_s": single.decode_tok_s}
    for r in rows:
        summary[f"batch_tok_s_c{r['batch']}_{key}"] = r["tok_s"]
        summary[f"batch_decode_tok_s_c{r['batch']}_{key}"] = r["decode_tok_s"]
        if "vs_hf" in r:
            summary[f"batch_vs_hf_c{r['batch']}_{key}"] = r["vs_hf"]
        if "decode_roofline_frac" in r:
            summary[f"batch_roofline_frac_c{r['batch']}_{key}"] = r["decode_roofline_frac"]
    one = next((r for r in rows if r["batch"] == 1), None)
    if one is not None:
        summary["batch1_vs_single_stream_decode"] = one["decode_tok_s"] / max(single.decode_tok_s, 1e-9)
        summary |= {f"{prefix}_batch{r['batch']}_speedup": r["tok_s"] / one["tok_s"] for r in rows if r["batch"] > 1}
    report = {**summary, "rows": rows, "model": name or "bundled SmolLM2-135M-Instruct Q4_1 GGUF (fp32)",
              "device": device, "dtype": str(dtype), "prompt_len": prompt_len, "decode_tokens": decode_tokens,
              "engine_config": cfg.__dict__, "copy_bandwidth_Bps": bandwidth, "threads": threads,
              "command": command, "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus"
              + (f" {torch.cuda.get_device_name()}" if gpu else ""), "load_avg_1m": os.getloadavg()[0],
              "torch": torch.__version__, "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    path = out or RESULTS / f"engine_batch_{prefix}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":  # on a GPU machine without the CLI: python -m eval.bench.batch --device cuda
    import argparse
    import sys

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default=None)
    ap.add_argument("--batches", default="1,8,32,64")
    ap.add_argument("--prompt-len", type=int, default=2048)
    ap.add_argument("--decode-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eager", action="store_true", help="no CUDA graphs")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO)
    rep = run(a.device, a.model, tuple(int(b) for b in a.batches.split(",")), a.prompt_len, a.decode_tokens,
              a.threads, False if a.eager else None, not a.no_peer,
              "python -m eval.bench.batch " + " ".join(sys.argv[1:]), Path(a.out) if a.out else None)
    sys.stdout.write(json.dumps({k: v for k, v in rep.items() if k != "rows"}) + "\n")
