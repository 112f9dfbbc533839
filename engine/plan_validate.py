"""`longhaul plan --validate`: the planner's predictions against every measured configuration in eval/results.

Each row has a role: ``calibrate`` (the measurement a rate in engine/calibration.json was derived from; its error is
shown but kept out of the maxima), ``validate`` (an independent check; counted in ``max_*_err_pct``) or
``excluded: why`` (a measurement outside what the planner models; counted only in ``max_*_err_pct_all``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from engine.config import ModelConfig
from engine.plan import (
    Rates,
    attention_flops,
    decode_step_seconds,
    kv_bytes_per_token,
    load_calibration,
    prefill_seconds,
    rates_for,
    weight_bytes,
)

TIME_BAR_PCT = 20.0
BYTES_BAR_PCT = 5.0
WARMUP = "excluded: warm-up (first row of the run, slower than the 4x larger 32K row)"
_QUANT = {"int8-channel", "int4", "fp8-channel"}


def _row(source: str, what: str, model: str, context: int, gpus: int, measured: float, predicted: float,
         role: str = "validate", detail: str = "") -> dict[str, Any]:
    err = 100.0 * (predicted - measured) / measured
    kind = "bytes" if what.endswith("bytes") else "time"
    return {"source": source, "what": what, "kind": kind, "model": model, "context": context, "gpus": gpus,
            "detail": detail, "measured": measured, "predicted": predicted, "err_pct": round(err, 2), "role": role}


def _ring(path: Path, rates: Rates) -> list[dict[str, Any]]:
    d = json.loads(path.read_text())
    cfg, src, n = ModelConfig.named("llama3-8b"), path.name, int(d["world_size"])
    layer = cfg.with_(n_layers=1)
    w = weight_bytes(cfg)
    out = []
    for key, m in d["attention"].items():
        t = int(key)
        att = attention_flops(layer, t)
        out.append(_row(src, "attention_layer_s", "llama3-8b", t, 1, m["t1_s"], att / rates.attn_flops(t),
                        "calibrate", "attn_flops_by_len"))
        ring_role = "calibrate" if t == max(int(k) for k in d["attention"]) else "validate"
        out.append(_row(src, "attention_layer_s", "llama3-8b", t, n, m["tn_s"],
                        att / (n * rates.ring_attn_flops_per_gpu * rates.ring_overlap), ring_role, "ring"))
    for key, m in d["model"].items():
        t = int(key)
        if "t1_s" in m:
            role = "calibrate" if t == 131072 else "validate"
            out.append(_row(src, "prefill_s", "llama3-8b", t, 1, m["t1_s"], prefill_seconds(cfg, t, rates), role))
        out.append(_row(src, "prefill_s", "llama3-8b", t, n, m["tn_s"], prefill_seconds(cfg, t, rates, n, ring=True),
                        detail="ring"))
    ctx = int(d["decode_context"])
    kv = ctx * kv_bytes_per_token(cfg)
    out.append(_row(src, "decode_s", "llama3-8b", ctx, 1, 1 / d["decode_tok_s_1gpu"],
                    decode_step_seconds(cfg, kv, rates, w)))
    out.append(_row(src, "decode_s", "llama3-8b", ctx, n, 1 / d["decode_tok_s_2gpu"],
                    decode_step_seconds(cfg, kv, rates, w, gpus=n, weight_shards=1), detail="ring, sharded KV"))
    return out


def _kv_speed(path: Path, rates: Rates) -> list[dict[str, Any]]:
    d = json.loads(path.read_text())
    cfg, src = ModelConfig.named("llama3-8b"), path.name
    per_tok, w = kv_bytes_per_token(cfg), weight_bytes(cfg)
    out = []
    for r in d["rows"]:
        t, ratio = int(r["context"]), float(r["ratio"])
        full, comp = t * per_tok, math.ceil(t / ratio) * per_tok
        pol = f"{r['policy']} {ratio:g}x"
        out.append(_row(src, "prefill_s", "llama3-8b", t, 1, r["prefill_s"], prefill_seconds(cfg, t, rates),
                        WARMUP if t == 8192 else "validate", "chunked prefill"))
        role = {8192: WARMUP, 131072: "calibrate"}.get(t, "validate")
        out.append(_row(src, "decode_s", "llama3-8b", t, 1, r["decode_ms_per_token_full"] / 1e3,
                        decode_step_seconds(cfg, full, rates, w), role, "full KV"))
        role = "validate" if t == 131072 else "calibrate"
        out.append(_row(src, "decode_s", "llama3-8b", t, 1, r["decode_ms_per_token_compressed"] / 1e3,
                        decode_step_seconds(cfg, comp, rates, w), role, pol))
        out.append(_row(src, "weight_bytes", "llama3-8b", t, 1, r["weight_bytes"], w))
        out.append(_row(src, "kv_bytes", "llama3-8b", t, 1, r["kv_bytes_full"], full, detail="full"))
        out.append(_row(src, "kv_bytes", "llama3-8b", t, 1, r["kv_bytes_compressed"], comp, detail=pol))
    return out


def _kv_quality(path: Path, rates: Rates) -> list[dict[str, Any]]:
    """SmolLM2 needle runs: KV bytes of every policy/dtype row; decode times on CUDA."""
    d = json.loads(path.read_text())
    cfg, src, model = ModelConfig.named("smollm2-135m"), path.name, "smollm2-135m"
    base = next(r for r in d["rows"] if r["policy"] == "full" and r["kv_dtype"] == "model")
    tokens = base["kv_bytes_mean"] / kv_bytes_per_token(cfg, "fp32")
    n = round(tokens)
    out = [_row(src, "kv_bytes", model, n, 1, base["kv_bytes_mean"], n * kv_bytes_per_token(cfg, "fp32"),
                "calibrate", "mean token count of the needle prompts (fp32 full cache)")]
    gpu = d.get("device") == "cuda"
    backend = str(d.get("attention_backend", "cudnn"))
    w = weight_bytes(cfg, "fp32")
    if gpu:
        role = "calibrate" if backend == "math" else "validate"
        out.append(_row(src, "decode_s", model, n, 1, base["decode_ms_per_token"] / 1e3,
                        decode_step_seconds(cfg, base["kv_bytes_mean"], rates, w, backend=backend), role,
                        f"full fp32 ({backend} backend)"))
    rows = [r for r in d["rows"] if r is not base and "kv_bytes_mean" in r]  # kvpress peer rows: no bytes
    outside = sorted((r for r in rows if r["question"] == "outside" and r["kv_dtype"] == "model"
                      and r["policy"] != "full"), key=lambda r: (float(r["ratio"]), r["policy"]))
    q, q_row = 0.0, None
    if outside:  # question tokens appended after compression: solve kept = (n - q) / r + q on one row
        q_row = outside[0]
        r0 = float(q_row["ratio"])
        q = (q_row["kv_bytes_mean"] / kv_bytes_per_token(cfg, "fp32") - n / r0) / (1 - 1 / r0)
    for r in rows:
        dtype = "fp32" if r["kv_dtype"] == "model" else r["kv_dtype"]
        ratio = float(r["ratio"])
        detail = f"{r['policy']} {ratio:g}x {r['kv_dtype']} question {r['question']}"
        role = "validate"
        if r["policy"].startswith("adakv"):
            role = "excluded: AdaKV keeps a per-head budget (not modelled)"
        elif dtype in _QUANT:
            role = f"excluded: {dtype} keeps a full-precision residual window / per-channel groups (not modelled)"
        appended = q if r["question"] == "outside" else 0.0
        tokens = math.ceil((n - appended) / ratio) + appended
        kv = tokens * kv_bytes_per_token(cfg, dtype if dtype not in _QUANT else "int8")
        brole = "calibrate" if r is q_row else role
        out.append(_row(src, "kv_bytes", model, n, 1, r["kv_bytes_mean"], kv, brole,
                        detail + (f" (+{q:.0f} question tokens)" if appended else "")))
        if not gpu:
            continue
        trole = role
        if r["policy"] == "h2o":
            trole = "excluded: H2O accumulates attention scores every decode step (not modelled)"
        elif dtype not in ("fp32", "bf16"):
            trole = "excluded: per-step KV dequantization (not modelled)"
        out.append(_row(src, "decode_s", model, n, 1, r["decode_ms_per_token"] / 1e3,
                        decode_step_seconds(cfg, kv, rates, w, backend=backend), trole,
                        f"{detail} ({backend} backend)"))
    return out


def _notes(calib: dict[str, Any], rates: Rates) -> list[dict[str, Any]]:
    out = []
    for m in calib.get("notes_measurements", []):
        cfg = ModelConfig.named(m["model"])
        t = int(m["context"])
        if m["what"] == "prefill_s":
            out.append(_row(m["source"], "prefill_s", m["model"], t, 1, m["measured"], prefill_seconds(cfg, t, rates),
                            detail=m["engine"]))
        else:
            kv = t * kv_bytes_per_token(cfg)
            out.append(_row(m["source"], "decode_s", m["model"], t, 1, m["measured"],
                            decode_step_seconds(cfg, kv, rates, weight_bytes(cfg)),
                            "excluded: transformers generate() per-step overhead differs from longhaul's engine floor",
                            m["engine"]))
    return out


def _max(rows: list[dict[str, Any]], kind: str, roles: tuple[str, ...]) -> float | None:
    errs = [abs(r["err_pct"]) for r in rows if r["kind"] == kind and r["role"].startswith(roles)]
    return round(max(errs), 2) if errs else None


def validate(results_dir: Path, gpu: str = "h200", calib: dict[str, Any] | None = None) -> dict[str, Any]:
    """Predicted vs measured for every configuration found in ``results_dir``; maxima over ``validate`` rows."""
    if not results_dir.is_dir():
        raise ValueError(f"results directory {results_dir} not found: run from the repository root or pass it")
    calib = calib or load_calibration()
    rates = rates_for(gpu, calib)
    readers = {"ring_gpu2.json": _ring, "kv_gpu_llama3_8b_speed.json": _kv_speed}
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for path in sorted(results_dir.glob("*.json")):
        if path.name in readers:
            rows += readers[path.name](path, rates)
        elif path.name.startswith("kv_") and "rows" in json.loads(path.read_text()):
            rows += _kv_quality(path, rates)
            if json.loads(path.read_text()).get("device") != "cuda":
                skipped.append({"source": path.name, "why": "CPU times: the calibration has GPU rates only"})
        else:
            skipped.append({"source": path.name, "why": "no model + context + GPU time or KV bytes"})
    rows += _notes(calib, rates)
    out = {
        "rows": rows, "skipped": skipped, "time_bar_pct": TIME_BAR_PCT, "bytes_bar_pct": BYTES_BAR_PCT,
        "n_validate": sum(r["role"] == "validate" for r in rows),
        "n_calibrate": sum(r["role"] == "calibrate" for r in rows),
        "n_excluded": sum(r["role"].startswith("excluded") for r in rows),
        "max_time_err_pct": _max(rows, "time", ("validate",)),
        "max_bytes_err_pct": _max(rows, "bytes", ("validate",)),
        "max_time_err_pct_all": _max(rows, "time", ("validate", "calibrate", "excluded")),
        "max_bytes_err_pct_all": _max(rows, "bytes", ("validate", "calibrate", "excluded")),
    }
    t, b = out["max_time_err_pct"], out["max_bytes_err_pct"]
    out["passed"] = t is not None and b is not None and t <= TIME_BAR_PCT and b <= BYTES_BAR_PCT
    return out
