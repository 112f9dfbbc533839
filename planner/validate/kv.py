"""Validation rows of the KV needle runs (``eval/results/kv_*.json``): bytes of every policy/dtype, decode times.

Roles as in planner/validate/run.py. A row named by a ``*_calibrated_on`` key of calibration.json's ``policies`` is
the ``calibrate`` row of that constant; the others validate it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from engine.config import ModelConfig
from engine.kv.formats import ADAKV_ALPHA_SAFEGUARD, FORMATS, POLICY_WINDOW
from planner.kv_bytes import adakv_stored_tokens
from planner.rates import Rates, decode_step_seconds, kv_bytes, kv_bytes_per_token, weight_bytes

_COMPUTE = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}


def row(
    source: str,
    what: str,
    model: str,
    context: int,
    gpus: int,
    measured: float,
    predicted: float,
    role: str = "validate",
    detail: str = "",
) -> dict[str, Any]:
    """One predicted-vs-measured row; ``err_pct`` is signed, (predicted - measured) / measured."""
    err = 100.0 * (predicted - measured) / measured
    kind = "bytes" if what.endswith("bytes") else "time"
    return {
        "source": source,
        "what": what,
        "kind": kind,
        "model": model,
        "context": context,
        "gpus": gpus,
        "detail": detail,
        "measured": measured,
        "predicted": predicted,
        "err_pct": round(err, 2),
        "role": role,
    }


def stored_tokens(cfg: ModelConfig, policy: str, prompt: float, ratio: float, head_share: float) -> float:
    """Tokens per KV head and layer a policy keeps of ``prompt`` tokens (AdaKV: padded to the largest head)."""
    kept = math.ceil(prompt / ratio)
    if policy.startswith("adakv"):
        return adakv_stored_tokens(kept, math.ceil(prompt), cfg.n_kv_heads, POLICY_WINDOW, ADAKV_ALPHA_SAFEGUARD,
                                   head_share)
    return kept


def kv_quality(path: Path, rates: Rates, calib: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """SmolLM2 needle runs: KV bytes of every policy/dtype row; decode times on CUDA.

    The token count is the mean over the run's prompts (from the full cache's bytes), so per-prompt rounding
    (budgets, quantization groups) is modelled at the mean.
    """
    d = json.loads(path.read_text())
    cfg, src, model = ModelConfig.named("smollm2-135m"), path.name, "smollm2-135m"
    compute = _COMPUTE.get(str(d.get("compute_dtype", "float32")), "fp32")
    pol = calib.get("policies", {})
    bytes_cal = {pol.get("adakv_calibrated_on")}
    time_cal = {pol.get("h2o_calibrated_on"), pol.get("quant_calibrated_on")}
    share = float(pol.get("adakv_head_share", 1.0))
    base = next(r for r in d["rows"] if r["policy"] == "full" and r["kv_dtype"] == "model")
    per_tok = kv_bytes_per_token(cfg, compute)
    n = round(base["kv_bytes_mean"] / per_tok)
    out = [
        row(
            src,
            "kv_bytes",
            model,
            n,
            1,
            base["kv_bytes_mean"],
            n * per_tok,
            "calibrate",
            f"mean token count of the needle prompts ({compute} full cache)",
        )
    ]
    gpu = d.get("device") == "cuda"
    backend = str(d.get("attention_backend", "cudnn"))
    w = weight_bytes(cfg, compute)
    if gpu:
        role = "calibrate" if backend == "math" else "validate"
        out.append(
            row(
                src,
                "decode_s",
                model,
                n,
                1,
                base["decode_ms_per_token"] / 1e3,
                decode_step_seconds(cfg, base["kv_bytes_mean"], rates, w, backend=backend),
                role,
                f"full {compute} ({backend} backend)",
            )
        )
    rows = [r for r in d["rows"] if r is not base and "kv_bytes_mean" in r]  # kvpress peer rows: no bytes
    outside = sorted(
        (r for r in rows if r["question"] == "outside" and r["kv_dtype"] == "model" and r["policy"] != "full"),
        key=lambda r: (float(r["ratio"]), r["policy"]),
    )
    q, q_row = 0.0, None
    if outside:  # question tokens appended after compression: solve kept = (n - q) / r + q on one row
        q_row = outside[0]
        r0 = float(q_row["ratio"])
        q = (q_row["kv_bytes_mean"] / per_tok - n / r0) / (1 - 1 / r0)
    for r in rows:
        dtype = compute if r["kv_dtype"] == "model" else r["kv_dtype"]
        ratio = float(r["ratio"])
        detail = f"{r['policy']} {ratio:g}x {r['kv_dtype']} question {r['question']}"
        key = f"{src}: {detail}"
        appended = q if r["question"] == "outside" else 0.0
        tokens = stored_tokens(cfg, r["policy"], n - appended, ratio, share) + appended
        kv = kv_bytes(cfg, round(tokens), dtype, compute)
        brole = "calibrate" if r is q_row or key in bytes_cal else "validate"
        out.append(
            row(
                src,
                "kv_bytes",
                model,
                n,
                1,
                r["kv_bytes_mean"],
                kv,
                brole,
                detail + (f" (+{q:.0f} question tokens)" if appended else ""),
            )
        )
        if not gpu:
            continue
        host = 0.0
        if r["policy"] == "h2o":  # attention accumulated and tokens re-selected in every layer, every step
            host += rates.h2o_step_s_per_layer
        if dtype in FORMATS:  # every layer dequantized (and the flushed tokens quantized) every step
            host += rates.quant_step_s_per_layer
        out.append(
            row(
                src,
                "decode_s",
                model,
                n,
                1,
                r["decode_ms_per_token"] / 1e3,
                decode_step_seconds(cfg, kv, rates, w, backend=backend, host_s_per_layer=host),
                "calibrate" if key in time_cal else "validate",
                f"{detail} ({backend} backend)",
            )
        )
    return out, []
