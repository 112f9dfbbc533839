"""`longhaul plan --validate`: the planner's predictions against every measured configuration in eval/results.

Each row has a role: ``calibrate`` (the measurement a rate in planner/calibration.json was derived from; its error is
shown but kept out of the maxima), ``validate`` (an independent check; counted in ``max_*_err_pct``) or
``excluded: why`` (a measurement outside what the planner models; counted only in ``max_*_err_pct_all``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from engine.config import ModelConfig
from planner.rates import (
    Rates,
    decode_step_seconds,
    kv_bytes_per_token,
    load_calibration,
    prefill_seconds,
    rates_for,
    weight_bytes,
)
from planner.validate.domain import kv_domain
from planner.validate.gpu import Rows, Skips, compressed_decode, engine_gpu, ring, ring_held_out
from planner.validate.kv import kv_quality, row

TIME_BAR_PCT = 20.0
BYTES_BAR_PCT = 5.0
WARMUP = "excluded: warm-up (first row of the run, slower than the 4x larger 32K row)"


def _kv_speed(path: Path, rates: Rates) -> tuple[Rows, Skips]:
    d = json.loads(path.read_text())
    cfg, src = ModelConfig.named("llama3-8b"), path.name
    per_tok, w = kv_bytes_per_token(cfg), weight_bytes(cfg)
    out = []
    for r in d["rows"]:
        t, ratio = int(r["context"]), float(r["ratio"])
        full, comp = t * per_tok, math.ceil(t / ratio) * per_tok
        pol = f"{r['policy']} {ratio:g}x"
        out.append(
            row(
                src,
                "prefill_s",
                "llama3-8b",
                t,
                1,
                r["prefill_s"],
                prefill_seconds(cfg, t, rates),
                WARMUP if t == 8192 else "validate",
                "chunked prefill",
            )
        )
        role = {8192: WARMUP, 131072: "calibrate"}.get(t, "validate")
        out.append(
            row(
                src,
                "decode_s",
                "llama3-8b",
                t,
                1,
                r["decode_ms_per_token_full"] / 1e3,
                decode_step_seconds(cfg, full, rates, w),
                role,
                "full KV",
            )
        )
        role = "validate" if t == 131072 else "calibrate"
        out.append(
            row(
                src,
                "decode_s",
                "llama3-8b",
                t,
                1,
                r["decode_ms_per_token_compressed"] / 1e3,
                decode_step_seconds(cfg, comp, rates, w),
                role,
                pol,
            )
        )
        out.append(row(src, "weight_bytes", "llama3-8b", t, 1, r["weight_bytes"], w))
        out.append(row(src, "kv_bytes", "llama3-8b", t, 1, r["kv_bytes_full"], full, detail="full"))
        out.append(row(src, "kv_bytes", "llama3-8b", t, 1, r["kv_bytes_compressed"], comp, detail=pol))
    return out, []


def _notes(calib: dict[str, Any], rates: Rates) -> list[dict[str, Any]]:
    out = []
    for m in calib.get("notes_measurements", []):
        cfg = ModelConfig.named(m["model"])
        t = int(m["context"])
        if m["what"] == "prefill_s":
            out.append(
                row(
                    m["source"],
                    "prefill_s",
                    m["model"],
                    t,
                    1,
                    m["measured"],
                    prefill_seconds(cfg, t, rates),
                    m.get("role", "validate"),
                    m["engine"],
                )
            )
        else:
            kv = t * kv_bytes_per_token(cfg)
            sync = cfg.n_layers * rates.hf_generate_s_per_layer  # generate()'s per-step Python, synchronized
            out.append(
                row(
                    m["source"],
                    "decode_s",
                    m["model"],
                    t,
                    1,
                    m["measured"],
                    decode_step_seconds(cfg, kv, rates, weight_bytes(cfg), sync_s=sync),
                    m.get("role", "validate"),
                    m["engine"] + " generate()",
                )
            )
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
    readers = {
        "ring_gpu.json": ring,
        "ring_gpu4.json": ring_held_out,
        "kv_gpu_llama3_8b_speed.json": _kv_speed,
        "engine_gpu.json": engine_gpu,
        "compressed_decode_gpu.json": compressed_decode,
    }
    rows: Rows = []
    skipped: Skips = []
    for path in sorted(results_dir.glob("*.json")):
        data = json.loads(path.read_text())
        try:
            if path.name in readers:
                got, why = readers[path.name](path, rates)
            elif path.name.startswith("kv_") and "rows" in data:
                got, why = (kv_domain if "domain_items" in data else kv_quality)(path, rates, calib)
                if data.get("device") != "cuda":
                    why = [*why, {"source": path.name, "why": "CPU times: the calibration has GPU rates only"}]
            else:
                got, why = [], [{"source": path.name, "why": "no model + context + GPU time or KV bytes"}]
        except (KeyError, TypeError, ValueError, IndexError, StopIteration) as exc:  # another shape: reported
            got, why = [], [{"source": path.name, "why": f"not in a shape the planner reads ({type(exc).__name__}: "
                                                         f"{exc})"}]
        rows += got
        skipped += why
    rows += _notes(calib, rates)
    out = {
        "rows": rows,
        "skipped": skipped,
        "time_bar_pct": TIME_BAR_PCT,
        "bytes_bar_pct": BYTES_BAR_PCT,
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
