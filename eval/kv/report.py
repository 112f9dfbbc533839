"""Rows and headline numbers of the KV eval: one row per (task, question placement, policy, ratio, KV dtype)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eval.kv.tasks import Needle


@dataclass
class Row:
    system: str
    question: str  # "inside" or "outside" the compressed part
    policy: str
    ratio: float
    kv_dtype: str
    task: str = "passkey"
    correct: list[bool] = field(default_factory=list)
    agree: list[bool] = field(default_factory=list)
    kv_bytes: list[int] = field(default_factory=list)
    decode_s_per_tok: list[float] = field(default_factory=list)
    by_depth: dict[str, list[bool]] = field(default_factory=dict)
    setup_s: list[float] = field(default_factory=list)  # fork + compress/quantize (+ question prefill if outside)
    by_item: dict[str, bool] = field(default_factory=dict)  # Needle.key -> right

    def add(self, needle: Needle, text: str, full_text: str, kv_bytes: int, dt: float, n: int) -> None:
        ok = needle.correct(text)
        self.correct.append(ok)
        self.agree.append(needle.gist(text) == needle.gist(full_text))
        self.kv_bytes.append(kv_bytes)
        self.decode_s_per_tok.append(dt / max(n - 1, 1))
        self.by_depth.setdefault(needle.cell, []).append(ok)
        self.by_item[needle.key] = ok

    def summary(self, full_bytes: float) -> dict[str, Any]:
        mean = sum(self.kv_bytes) / len(self.kv_bytes)
        return {"system": self.system, "task": self.task, "question": self.question, "policy": self.policy,
                "ratio": self.ratio, "kv_dtype": self.kv_dtype, "n": len(self.correct),
                "accuracy": sum(self.correct) / len(self.correct),
                "agreement": sum(self.agree) / len(self.agree), "kv_bytes_mean": round(mean),
                "kv_bytes_vs_full": round(mean / full_bytes, 4),
                "setup_ms": round(1e3 * sum(self.setup_s) / len(self.setup_s), 1) if self.setup_s else 0.0,
                "decode_ms_per_token": round(1e3 * sorted(self.decode_s_per_tok)[len(self.decode_s_per_tok) // 2], 2),
                "correct_by_len_depth": {k: sum(v) / len(v) for k, v in self.by_depth.items()},
                "correct_by_item": dict(self.by_item)}


def find_row(rows: Sequence[dict[str, Any]], question: str, policy: str, ratio: float, dtype: str,
             task: str = "passkey", model: str | None = None) -> dict[str, Any] | None:
    """The longhaul row of one configuration (rows without ``task`` count as passkey rows)."""
    for r in rows:
        if ((r["system"], r["question"], r["policy"], r["ratio"], r["kv_dtype"]) ==
                ("longhaul", question, policy, ratio, dtype) and r.get("task", "passkey") == task
                and (model is None or r.get("model") == model)):
            return r
    return None


def headline(acc: dict[str, Any], speed: dict[str, Any] | None, peer_rows: Sequence[dict[str, Any]] = (),
             model: str | None = None) -> dict[str, Any]:
    """The issue's headline numbers from the passkey rows (of ``model``), the 8K decode-speed run and kvpress's
    rows; None where a run did not happen."""
    rows = acc["rows"]

    def _row(question: str, policy: str, ratio: float, dtype: str) -> dict[str, Any] | None:
        return find_row(rows, question, policy, ratio, dtype, "passkey", model)

    full, snap = _row("inside", "full", 1.0, "model"), _row("inside", "snapkv", 4.0, "model")
    snap_out = _row("outside", "snapkv", 4.0, "model")
    int8, bf16 = _row("inside", "full", 1.0, "int8"), _row("inside", "full", 1.0, "bf16")
    peer = next((r for r in peer_rows if r["policy"] == "snapkv" and r["ratio"] == 4.0
                 and r["question"] == "outside"), None)
    diff = None  # our accuracy minus the peer's, on the needles both ran (length@depth keys)
    if snap_out and peer:
        ours, theirs = snap_out["correct_by_len_depth"], peer.get("correct_by_len_depth", {})
        keys = [k for k in theirs if k in ours]
        diff = sum(ours[k] - theirs[k] for k in keys) / len(keys) if keys else None
    out: dict[str, Any] = {
        "full_acc": full["accuracy"] if full else None,
        "snapkv4x_acc": snap["accuracy"] if snap else None,
        "snapkv4x_rel_acc": round(snap["accuracy"] / full["accuracy"], 3) if snap and full and full["accuracy"]
        else None,
        "snapkv4x_outside_acc": snap_out["accuracy"] if snap_out else None,
        "snapkv4x_minus_kvpress_acc": round(diff, 3) if diff is not None else None,  # like with like: same
        # needles, both compress the context with the question outside
        "int8_acc_drop_points": round(100 * (full["accuracy"] - int8["accuracy"]), 1) if full and int8 else None,
        "int8_bytes_ratio_vs_bf16": round(int8["kv_bytes_mean"] / bf16["kv_bytes_mean"], 4) if int8 and bf16
        else None,
        "decode_speedup_8k_4x": None, "decode_speedup_ideal_8k_4x": None, "decode_speedup_frac_of_ideal_8k_4x": None,
    }
    if speed:
        out |= {"decode_speedup_8k_4x": speed["speedup"], "decode_speedup_ideal_8k_4x": speed["speedup_ideal"],
                "decode_speedup_frac_of_ideal_8k_4x": speed["frac_of_ideal"]}
    return out


def domain_headline(rows: Sequence[dict[str, Any]], models: Sequence[str]) -> dict[str, Any]:
    """Per model: full-cache accuracy on the domain lookups, and SnapKV 4x (question inside) accuracy over it
    (bar >= 0.95), plus the other policies' and KV dtypes' accuracy relative to the full cache."""
    full_acc: dict[str, float | None] = {}
    rel: dict[str, dict[str, float | None]] = {}
    for m in models:
        full = find_row(rows, "inside", "full", 1.0, "model", "domain", m)
        full_acc[m] = full["accuracy"] if full else None
        rel[m] = {}
        for r in rows:
            if r.get("task") == "domain" and r.get("model") == m and r is not full:
                key = f"{r['question']}/{r['policy']}/{r['ratio']:g}x/{r['kv_dtype']}"
                rel[m][key] = round(r["accuracy"] / full["accuracy"], 3) if full and full["accuracy"] else None
    return {"domain_full_acc": full_acc,
            "domain_snapkv4x_rel_acc": {m: rel[m].get("inside/snapkv/4x/model") for m in models},
            "domain_rel_acc": rel}
