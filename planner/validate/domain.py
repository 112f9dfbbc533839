"""Validation rows of the domain-lookup KV runs (``kv_*.json`` with ``domain_items``): KV bytes, per prompt.

The packed prompts vary in length (a 2048-token budget packs 1962-2046 tokens), and a policy keeps
``ceil(n / ratio)`` of each, so the bytes are computed per item from ``domain_items[budget][i].n_tokens`` (and
``question_tokens`` where the question is appended after compression) and averaged, not at the mean token count.
After its prompt every cache stores the decoded tokens uncompressed: eval/kv/sweep.py books the full cache at
``n + max_new - 1`` tokens, so that count comes from the full row's bytes (its ``calibrate`` row); a compressed
cache that stopped early on some items holds a little less (up to ~4% at 8x).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.config import ModelConfig
from planner.rates import Rates, kv_bytes, kv_bytes_per_token
from planner.validate.kv import _COMPUTE, row, stored_tokens

Rows = list[dict[str, Any]]
Skips = list[dict[str, str]]
MODEL = "smollm2-135m"


def _item_tokens(items: list[dict[str, Any]]) -> list[tuple[int, int | None]]:
    """(prompt tokens, question tokens or None) of every item that records its prompt length."""
    return [(int(i["n_tokens"]), i.get("question_tokens")) for i in items if "n_tokens" in i]


def _predict(
    cfg: ModelConfig, r: dict[str, Any], prompts: list[tuple[int, int | None]], new: float, compute: str, share: float
) -> float | None:
    """Mean bytes of row ``r`` over the prompts; None if a question-outside row lacks question token counts."""
    dtype = compute if r["kv_dtype"] == "model" else r["kv_dtype"]
    ratio, outside = float(r["ratio"]), r["question"] == "outside"
    total = 0.0
    for n, q in prompts:
        if outside and q is None:
            return None
        appended = int(q or 0) if outside else 0  # the question, stored after the context was compressed
        kept = stored_tokens(cfg, r["policy"], n - appended, ratio, share) if r["policy"] != "full" else n - appended
        total += kv_bytes(cfg, round(kept + appended + new), dtype, compute)
    return total / len(prompts)


def kv_domain(path: Path, rates: Rates, calib: dict[str, Any]) -> tuple[Rows, Skips]:
    """KV bytes of every (model, budget) group of a domain run, predicted per prompt; no times (CPU runs)."""
    d = json.loads(path.read_text())
    cfg, src = ModelConfig.named(MODEL), path.name
    compute = _COMPUTE.get(str(d.get("compute_dtype", "float32")), "fp32")
    per_tok = kv_bytes_per_token(cfg, compute)
    share = float(calib.get("policies", {}).get("adakv_head_share", 1.0))
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in d["rows"]:
        if "kv_bytes_mean" in r:
            groups.setdefault((str(r.get("model", "")), str(r.get("budget", ""))), []).append(r)
    out: Rows = []
    skipped: Skips = []
    for (tag, budget), group in groups.items():
        items = (d.get("domain_items") or {}).get(budget) or []
        prompts = _item_tokens(items)
        full = next((r for r in group if r["policy"] == "full" and r["kv_dtype"] == "model"), None)
        where = f"{src} ({tag}, budget {budget})"
        if full is None or not prompts or len(prompts) != len(items) or any(r.get("n") != len(prompts) for r in group):
            why = "bytes rows skipped: no per-item token counts matching the rows' item count (domain_items n_tokens)"
            skipped.append({"source": where, "why": why})
            continue
        new = full["kv_bytes_mean"] / per_tok - sum(n for n, _ in prompts) / len(prompts)
        label = f"{tag}: " if tag else ""
        for r in group:
            pred = _predict(cfg, r, prompts, new, compute, share)
            detail = f"{label}{r['policy']} {float(r['ratio']):g}x {r['kv_dtype']} question {r['question']}"
            if pred is None:
                skipped.append({"source": f"{where} {detail}", "why": "question outside, no question_tokens per item"})
                continue
            if r is full:
                role, detail = "calibrate", f"{label}full cache: {new:.0f} decoded tokens stored after each prompt"
            else:
                role = "validate"
            ctx = round(sum(n for n, _ in prompts) / len(prompts))
            out.append(row(src, "kv_bytes", MODEL, ctx, 1, r["kv_bytes_mean"], pred, role, detail + " (per item)"))
    return out, skipped
