"""Validation rows of the llama3-8b GPU benchmarks: the ring runs (``ring_gpu*.json``) and the engine run
(``engine_gpu.json``). Roles as in planner/validate/run.py; each reader returns ``(rows, skipped)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.config import ModelConfig
from planner.rates import Rates, attention_flops, decode_step_seconds, kv_bytes_per_token, prefill_seconds, weight_bytes
from planner.validate.kv import row

Rows = list[dict[str, Any]]
Skips = list[dict[str, str]]
_DTYPES = {"torch.bfloat16": "bf16", "bfloat16": "bf16", "torch.float16": "fp16", "torch.float32": "fp32"}
HF_DECODE_SKIP = (
    "transformers decode here is a bare greedy loop with a host sync per token (eval/bench/engine.py hf_run), "
    "neither generate() (the NOTES.md rows) nor longhaul's step; its 8K row is slower than its 32K row"
)
TORCH_OPS_SKIP = (
    "the previous graph decode (rotary and attention as torch ops over the whole masked cache), kept in the bench "
    "as the kernels' peer; the engine uses it only where Triton is missing, and the graph rates model the kernels"
)
EAGER_VARIANT = (
    "excluded: an uncompressed cache forced to eager decode, a path the engine never takes on CUDA (uncompressed "
    "caches decode as a CUDA graph); after the rewrite it reads KV through the folded-GQA kernel, unlike the "
    "pre-rewrite eager runs the eager constants come from"
)


def _ring_rows(path: Path, rates: Rates, decode_role: str) -> Rows:
    d = json.loads(path.read_text())
    cfg, src, n = ModelConfig.named("llama3-8b"), path.name, int(d["world_size"])
    layer = cfg.with_(n_layers=1)
    w = weight_bytes(cfg)
    out = []
    biggest = max(int(k) for k in d["attention"])
    for key, m in d["attention"].items():
        t = int(key)
        att = attention_flops(layer, t)
        single = att / rates.attn_flops(t)
        what = "attention_layer_s"
        out.append(row(src, what, "llama3-8b", t, 1, m["t1_s"], single, "calibrate", "attn_flops_by_len"))
        ring = att / (n * rates.ring_attn_flops_per_gpu * rates.ring_overlap)
        role = "calibrate" if t == biggest else "validate"
        out.append(row(src, what, "llama3-8b", t, n, m["tn_s"], ring, role, "ring"))
    for key, m in d["model"].items():
        t = int(key)
        if "t1_s" in m:
            out.append(row(src, "prefill_s", "llama3-8b", t, 1, m["t1_s"], prefill_seconds(cfg, t, rates)))
        ring_s = prefill_seconds(cfg, t, rates, n, ring=True)
        out.append(row(src, "prefill_s", "llama3-8b", t, n, m["tn_s"], ring_s, detail="ring"))
    ctx = int(d["decode_context"])
    kv = ctx * kv_bytes_per_token(cfg)
    one = decode_step_seconds(cfg, kv, rates, w)
    out.append(row(src, "decode_s", "llama3-8b", ctx, 1, 1 / d["decode_tok_s_1gpu"], one, detail="eager"))
    sharded = decode_step_seconds(cfg, kv, rates, w, gpus=n, weight_shards=1)
    measured = 1 / d[f"decode_tok_s_{n}gpu"]
    out.append(row(src, "decode_s", "llama3-8b", ctx, n, measured, sharded, decode_role, "ring, sharded KV (eager)"))
    return out


def ring(path: Path, rates: Rates) -> tuple[Rows, Skips]:
    """The ring run the rates come from (2 GPUs): attention table and ring rate calibrate here."""
    return _ring_rows(path, rates, "validate"), []


def ring_held_out(path: Path, rates: Rates) -> tuple[Rows, Skips]:
    """A ring run the other rates never saw (4 GPUs): every row validates, except its sharded decode, the one row
    with more than one hop per collective, which calibrates ``collective_s_per_hop``."""
    rows = [dict(r, role="validate") if r["role"] == "calibrate" else r for r in _ring_rows(path, rates, "validate")]
    for r in rows:
        if r["what"] == "decode_s" and r["gpus"] > 1:
            r["role"] = "calibrate"
    return rows, []


def engine_gpu(path: Path, rates: Rates) -> tuple[Rows, Skips]:
    """longhaul's engine on one GPU (eval/bench/engine.py --device cuda): chunked prefill (and transformers'),
    CUDA-graph decode of the shared cache.

    The graph's attention kernel (engine/decode_kernel.py) reads K and V up to the position only, so a decode step
    reads the context plus, on average, half the decoded tokens, whatever the size of the shared cache (the
    variants run a 32K prompt in the 128K run's cache).
    """
    d = json.loads(path.read_text())
    if d.get("device") != "cuda" or not str(d.get("model", "")).startswith("synthetic:"):
        return [], [{"source": path.name, "why": "not a CUDA run of a named synthetic shape"}]
    name = d["model"].removeprefix("synthetic:")
    cfg, src, dtype = ModelConfig.named(name), path.name, _DTYPES.get(str(d.get("dtype")), "bf16")
    w, per_tok, new = weight_bytes(cfg, dtype), kv_bytes_per_token(cfg, dtype), int(d["decode_tokens"])
    out = []
    for r in d["rows"]:
        t = int(r["context"])
        pre = prefill_seconds(cfg, t, rates)
        role = "calibrate" if t == 32768 else "validate"
        out.append(row(src, "prefill_s", name, t, 1, t / r["prefill_tok_s"], pre, role, "longhaul chunked prefill"))
        out.append(row(src, "prefill_s", name, t, 1, t / r["hf_prefill_tok_s"], pre, detail="transformers"))
        step = decode_step_seconds(cfg, (t + new // 2) * per_tok, rates, w, graph=True)
        role = "calibrate" if t in (32768, 131072) else "validate"
        graph = "CUDA graph, KV to the position"
        out.append(row(src, "decode_s", name, t, 1, 1 / r["decode_tok_s"], step, role, graph))
    v, biggest = d.get("variants", {}), max(int(r["context"]) for r in d["rows"])
    if v.get("decode_mode_used_graph") == "graph":
        t = int(v["context"])
        step = decode_step_seconds(cfg, (t + new // 2) * per_tok, rates, w, graph=True)
        detail = f"CUDA graph, {t // 1024}K prompt in the {biggest // 1024}K run's cache"
        out.append(row(src, "decode_s", name, t, 1, 1 / v["decode_tok_s_graph"], step, detail=detail))
    skips = [{"source": f"{path.name} hf_decode_tok_s", "why": HF_DECODE_SKIP}]
    if "decode_tok_s_graph_torch_ops" in v:
        skips.append({"source": f"{path.name} variants.decode_tok_s_graph_torch_ops", "why": TORCH_OPS_SKIP})
    if v.get("decode_mode_used_eager") == "eager":
        t = int(v["context"])
        step = decode_step_seconds(cfg, t * per_tok, rates, w)
        out.append(row(src, "decode_s", name, t, 1, 1 / v["decode_tok_s_eager"], step, EAGER_VARIANT, "eager"))
    return out, skips


def compressed_decode(path: Path, rates: Rates) -> tuple[Rows, Skips]:
    """Graph decode of compressed caches (eval/bench/compressed_decode.py): held out, predicted from the graph rates
    with each cache's stored bytes; the eager peers and INT8 rows measure paths the graph rates do not model."""
    d = json.loads(path.read_text())
    name, src = str(d["model"]).removeprefix("synthetic:"), path.name
    cfg = ModelConfig.named(name)
    w = weight_bytes(cfg, _DTYPES.get(str(d.get("dtype")), "bf16"))
    out, skips = [], []
    for r in d["rows"]:
        t = int(r["context"])
        for key, got in r.items():
            if not isinstance(got, dict):
                continue
            if key == "full" or key.endswith("_graph"):
                step = decode_step_seconds(cfg, float(got["kv_bytes"]), rates, w, graph=True, int8_kv="int8" in key)
                role = "calibrate" if key == "int8_graph" and t == 131072 else "validate"
                out.append(row(src, "decode_s", name, t, 1, 1 / got["decode_tok_s"], step, role,
                               f"CUDA graph, {key}"))
            else:
                skips.append({"source": f"{src} {t} {key}", "why": "eager decode (peer or quantized storage): the "
                              "eager constants predate the Triton decode kernels"})
    return out, skips
