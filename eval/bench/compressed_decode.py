"""Decode speed of compressed KV caches on a GPU, through `LLM.generate` as a request runs it.

For ``synthetic:llama3-8b`` in bf16 at each context: the full cache (CUDA graph), SnapKV and StreamingLLM at 4x,
INT8 KV and SnapKV 4x on INT8, all with static-shape graph decode (engine/kv/compressed.py ``static_ready``), and
SnapKV 4x and INT8 decoded eagerly (the previous path, the peers). Reports decode tok/s, KV bytes and each one's
speedup over the full cache against the ideal (weights + full KV bytes) / (weights + its KV bytes). Writes
``eval/results/compressed_decode_gpu.json``; run ``python -m eval.bench.compressed_decode`` on a CUDA machine.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import torch

from engine.kv import KVSpec, make_policy
from engine.llm import LLM

RESULTS = Path(__file__).resolve().parent / "results"
CONFIGS: dict[str, tuple[str, KVSpec | None]] = {
    "full": ("graph", None),
    "snapkv4x_graph": ("graph", KVSpec(make_policy("snapkv", ratio=4.0))),
    "streamingllm4x_graph": ("graph", KVSpec(make_policy("streamingllm", ratio=4.0))),
    "int8_graph": ("graph", KVSpec(dtype="int8")),
    "snapkv4x_int8_graph": ("graph", KVSpec(make_policy("snapkv", ratio=4.0), dtype="int8")),
    "snapkv4x_eager": ("eager", KVSpec(make_policy("snapkv", ratio=4.0))),
    "int8_eager": ("eager", KVSpec(dtype="int8")),
}


def run(contexts: tuple[int, ...] = (32768, 131072), decode_tokens: int = 64, model: str = "synthetic:llama3-8b",
        device: str = "cuda") -> dict[str, Any]:
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    llm = LLM.load(model, device=device, dtype=dtype, max_seq_len=max(contexts) + decode_tokens + 8, adapter=None)
    weights = sum(p.numel() * p.element_size() for p in llm.model.parameters())
    rows = []
    for ctx in contexts:
        gen = torch.Generator().manual_seed(ctx)
        prompt = torch.randint(0, min(30000, llm.config.vocab_size), (ctx,), generator=gen).tolist()
        got: dict[str, Any] = {}
        for name, (mode, spec) in CONFIGS.items():
            llm.decode_mode, llm._cached_ids = mode, []
            g = llm.generate(prompt, max_new_tokens=decode_tokens, kv_policy=spec, ignore_eos=True)
            got[name] = {"decode_tok_s": g.decode_tok_s, "kv_bytes": g.kv_bytes,
                         "decode_prepare_ms": g.timings_ms.get("decode_prepare"), "decode_mode_setting": mode}
        full = got["full"]
        for r in got.values():
            r["speedup_vs_full"] = r["decode_tok_s"] / full["decode_tok_s"]
            r["speedup_ideal"] = (weights + full["kv_bytes"]) / (weights + r["kv_bytes"])
        rows.append({"context": ctx, **got})
        sys.stderr.write(json.dumps(rows[-1]) + "\n")
    return {"rows": rows, "weight_bytes": weights, "decode_tokens": decode_tokens, "model": model,
            "dtype": str(dtype), "device": torch.cuda.get_device_name() if device == "cuda" else device,
            "torch": torch.__version__,
            "command": "python -m eval.bench.compressed_decode",
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}


if __name__ == "__main__":
    rep = run() if len(sys.argv) < 2 else run((256,), 8, sys.argv[1], "cpu")  # a CPU smoke run: MODEL
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "compressed_decode_gpu.json").write_text(json.dumps(rep, indent=2) + "\n")
    summary = {f"{k}_{r['context'] // 1024}k": {"tok_s": round(v["decode_tok_s"], 1),
                                                "x_full": round(v["speedup_vs_full"], 2)}
               for r in rep["rows"] for k, v in r.items() if isinstance(v, dict)}
    sys.stdout.write(json.dumps(summary) + "\n")
