"""Our CPU engine vs llama.cpp on the same GGUF, prompt token ids and thread count: prefill and decode tok/s per
context, ours and theirs alternating within one invocation, plus the weight format's perplexity change vs fp32.

llama.cpp runs through llama-cpp-python in its own venv (a peer, never a dependency of ours): give its Python with
``--peer-python`` or ``$LONGHAUL_LLAMACPP_PYTHON`` (default /work/peers/llamacpp/bin/python). It is driven by
eval/bench/llamacpp_peer.py over a pipe, so the model loads once. Speeds are the best of ``reps`` per context.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

from engine.assets import smollm2_gguf
from engine.llm import LLM
from eval.bench.ppl import compare

RESULTS = Path(__file__).parent.parent / "results"
PEER_SCRIPT = Path(__file__).parent / "llamacpp_peer.py"
DEFAULT_PEER = "/work/peers/llamacpp/bin/python"


class LlamaCppPeer:
    """llama.cpp in a subprocess of the peer's Python: ``run(ids, decode)`` -> (prefill_s, decode_s, tokens)."""

    def __init__(self, python: str, gguf: Path, n_ctx: int, threads: int, flash_attn: bool) -> None:
        if not Path(python).exists():
            raise ValueError(f"no llama.cpp peer Python at {python}: create it with `python3 -m venv "
                             "/work/peers/llamacpp && /work/peers/llamacpp/bin/pip install llama-cpp-python` or pass "
                             "--peer-python / $LONGHAUL_LLAMACPP_PYTHON")
        self.python = python
        self.proc = subprocess.Popen([python, str(PEER_SCRIPT), str(gguf), str(n_ctx), str(threads),
                                      "1" if flash_attn else "0"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        self.info = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the llama.cpp peer exited (code {self.proc.poll()}) before answering")
        return dict(json.loads(line))

    def run(self, ids: list[int], decode: int) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"ids": ids, "decode": decode}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _key(context: int) -> str:
    return f"{context // 1024}k" if context % 1024 == 0 else str(context)


def speed_rows(llm: LLM, peer: LlamaCppPeer, contexts: tuple[int, ...], decode_tokens: int,
               reps: int) -> list[dict[str, Any]]:
    rows = []
    for ctx in contexts:
        ids = torch.randint(0, min(llm.config.vocab_size, 30000), (ctx,),
                            generator=torch.Generator().manual_seed(ctx)).tolist()
        ours, theirs, same = [], [], 0
        for _ in range(reps):
            llm._cached_ids = []  # no prefix reuse between repetitions
            g = llm.generate(ids, max_new_tokens=decode_tokens, ignore_eos=True)
            ours.append((ctx / (g.timings_ms["prefill"] / 1e3), g.decode_tok_s))
            r = peer.run(ids, decode_tokens)
            theirs.append((ctx / r["prefill_s"], (decode_tokens - 1) / r["decode_s"]))
            same = sum(a == b for a, b in zip(g.token_ids, r["tokens"], strict=False))
        op, od = max(o[0] for o in ours), max(o[1] for o in ours)
        tp, td = max(t[0] for t in theirs), max(t[1] for t in theirs)
        rows.append({"context": ctx, "prefill_tok_s": op, "decode_tok_s": od, "llamacpp_prefill_tok_s": tp,
                     "llamacpp_decode_tok_s": td, "prefill_ratio": op / tp, "decode_ratio": od / td,
                     "greedy_tokens_agreeing": same, "decode_tokens": decode_tokens})
    return rows


def run(contexts: tuple[int, ...] = (1024, 4096, 8192), weights: tuple[str, ...] = ("q4",), threads: int = 2,
        decode_tokens: int = 32, reps: int = 2, peer_python: str | None = None, flash_attn: bool = False,
        ppl_tokens: int = 768, out: Path | None = None, command: str = "") -> dict[str, Any]:
    """Run the comparison for each weight format; writes ``eval/results/engine_cpu_quant.json``."""
    torch.set_num_threads(threads)
    load_start = os.getloadavg()[0]
    gguf = smollm2_gguf()
    n_ctx = max(contexts) + decode_tokens + 8
    peer = LlamaCppPeer(peer_python or os.environ.get("LONGHAUL_LLAMACPP_PYTHON", DEFAULT_PEER), gguf, n_ctx,
                        threads, flash_attn)
    by_weights: dict[str, Any] = {}
    try:
        for w in weights:
            llm = LLM.load(weights=w, adapter=None, max_seq_len=n_ctx, threads=threads)
            by_weights[w] = {"rows": speed_rows(llm, peer, contexts, decode_tokens, reps),
                             "kv_dtype": str(llm.kv_dtype)}
            del llm
    finally:
        peer.close()
    quality = compare(list(weights), n_tokens=ppl_tokens, prefill=ppl_tokens // 2, threads=threads) \
        if ppl_tokens else {"ppl": {}}
    head = weights[0]
    summary: dict[str, Any] = {"weights": head}
    for r in by_weights[head]["rows"]:
        summary[f"cpu_decode_vs_llamacpp_{_key(r['context'])}"] = r["decode_ratio"]
        summary[f"cpu_prefill_vs_llamacpp_{_key(r['context'])}"] = r["prefill_ratio"]
    summary["ppl_rel_change"] = quality["ppl"].get(head, {}).get("rel_change")
    for w in weights[1:]:
        for r in by_weights[w]["rows"]:
            summary[f"{w}_decode_vs_llamacpp_{_key(r['context'])}"] = r["decode_ratio"]
        summary[f"{w}_ppl_rel_change"] = quality["ppl"].get(w, {}).get("rel_change")
    report = {**summary, "by_weights": by_weights, "quality": quality, "threads": threads, "reps": reps,
              "llamacpp": {"python": peer.python, **peer.info}, "model": str(gguf.name), "adapter": "none",
              "command": command, "machine": f"{platform.machine()} {os.cpu_count()} cpus",
              "load_avg_1m_start": load_start, "load_avg_1m_end": os.getloadavg()[0], "torch": torch.__version__,
              "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    path = out or RESULTS / "engine_cpu_quant.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return report
