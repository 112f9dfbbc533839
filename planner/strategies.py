"""The capacity plan: the five long-context strategies of the lesson's table for one model, context and GPU count.

Decode follows the engine's path for each strategy (engine/llm.py ``_decoder``): an uncompressed, unquantized cache
decodes as a CUDA graph that reads the KV up to the position (prompt + half the answer on average; graph rates), and
so do caches compressed once after the prompt (StreamingLLM, SnapKV: engine/kv/compressed.py ``static_ready``)
and per-token int8 caches; the other quantized layouts and H2O decode eagerly (eager launch floor and KV read
rate), and so does ring attention's sharded decode, plus one collective per layer across its GPUs
(engine/parallel/decode.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from engine.kv.formats import FORMATS
from planner.rates import (
    Rates,
    decode_step_seconds,
    kv_bytes,
    kv_bytes_per_token,
    prefill_seconds,
    rates_for,
    resolve_model,
    weight_bytes,
)


@dataclass
class StrategyPlan:
    """One row of the plan table; bytes and seconds are per request."""

    strategy: str
    label: str
    effective_context: str
    kv_tokens: int
    kv_bytes: float
    gpus: int
    kv_bytes_per_gpu: float
    prefill_s: float
    decode_tok_s: float
    concurrent: int
    cost_per_1k: float | None
    fits: bool
    note: str
    accuracy: str = "not measured"


def fmt_tokens(n: int) -> str:
    if n >= 1024**2 and n % 1024**2 == 0:
        return f"{n // 1024**2}M"
    return f"{n // 1024}K" if n >= 1024 and n % 1024 == 0 else str(n)


def _replica_gpus(weights: float, kv: float, rates: Rates, max_gpus: int) -> int | None:
    """The fewest GPUs (a power of two, or ``max_gpus``) whose usable memory holds the weights plus ``kv``."""
    sizes = sorted({2**i for i in range(max_gpus.bit_length()) if 2**i <= max_gpus} | {max_gpus})
    return next((g for g in sizes if (weights + kv) / g <= rates.usable_bytes), None)


def plan(
    model: str,
    context: int,
    gpus: int = 1,
    gpu: str = "h200",
    kv_dtype: str = "bf16",
    weight_dtype: str = "bf16",
    price: float = 3.5,
    ratio: float = 4.0,
    window: int = 4096,
    sinks: int = 4,
    evidence: int = 12288,
    output_tokens: int = 256,
    calib: dict[str, Any] | None = None,
) -> list[StrategyPlan]:
    """The five strategies for ``model`` at ``context`` tokens on up to ``gpus`` GPUs of kind ``gpu``.

    Non-ring strategies run on a tensor-parallel replica of the fewest GPUs holding the weights plus one request;
    ring attention spreads the sequence (and the weights) over all ``gpus``. Cost assumes requests are batched up to
    the number that fit in memory during decode; retrieval cost of the hybrid is not included.
    """
    cfg = resolve_model(model)
    rates = rates_for(gpu, calib)
    for name, value in (
        ("context", context),
        ("gpus", gpus),
        ("window", window),
        ("evidence", evidence),
        ("output_tokens", output_tokens),
    ):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if ratio < 1:
        raise ValueError(f"ratio must be >= 1 (e.g. 4 keeps a quarter of the KV), got {ratio}")
    if price < 0:
        raise ValueError(f"price must be >= 0 $/GPU-hour, got {price}")
    weights = weight_bytes(cfg, weight_dtype)
    per_tok = kv_bytes_per_token(cfg, kv_dtype)
    int8 = kv_dtype == "int8"  # per-token int8: the graph's kernel reads the codes (engine/decode_kernel.py)
    quant = kv_dtype in FORMATS and not int8  # eager: read back dequantized to bf16 every step (QuantStore)
    host = rates.quant_step_s_per_layer if quant else 0.0
    read_per_tok = kv_bytes_per_token(cfg, "bf16") if quant else kv_bytes(cfg, 1, kv_dtype) if int8 else per_tok
    rows: list[StrategyPlan] = []

    def row(
        strategy: str,
        label: str,
        eff: str,
        kv_tokens: int,
        prefill_tokens: int,
        ring: bool = False,
        attn_window: int | None = None,
        peak_tokens: int = 0,
        note: str = "",
        graph: bool = False,
    ) -> None:
        kv = kv_bytes(cfg, kv_tokens, kv_dtype)
        extra = max(0, peak_tokens - kv_tokens) * per_tok  # one request's transient KV during prefill
        g = gpus if ring else _replica_gpus(weights, kv + extra, rates, gpus)
        fits = g is not None and (weights + kv + extra) / g <= rates.usable_bytes
        g = g or gpus
        if not fits:
            most = int(max(0.0, g * rates.usable_bytes - weights) / per_tok)
            note = (note + "; " if note else "") + f"does not fit on {g} {gpu}: at most {fmt_tokens(most)} KV tokens"
        concurrent = int(max(0.0, g * rates.usable_bytes - weights - extra) // kv) if fits else 0
        prefill = prefill_seconds(cfg, prefill_tokens, rates, g, ring=ring, window=attn_window)
        graph = graph and not quant  # other quantized layouts decode eagerly
        read = (kv_tokens + output_tokens // 2 if graph else kv_tokens) * read_per_tok  # graph: KV up to the position
        eager_host = 0.0 if graph else host
        step1 = decode_step_seconds(cfg, read, rates, weights, g, host_s_per_layer=eager_host, graph=graph,
                                    int8_kv=int8)
        note = (note + "; " if note else "") + ("CUDA-graph decode" if graph else "eager decode")
        cost = None
        if concurrent:
            step = decode_step_seconds(
                cfg, read, rates, weights, g, batch=concurrent, host_s_per_layer=eager_host, graph=graph, int8_kv=int8
            )
            gpu_s = g * (prefill + output_tokens * step / concurrent)
            cost = gpu_s * price / 3600 * 1000
        rows.append(
            StrategyPlan(
                strategy, label, eff, kv_tokens, kv, g, kv / g, prefill, 1 / step1, concurrent, cost, fits, note
            )
        )

    row("full", f"Full {fmt_tokens(context)}", fmt_tokens(context), context, context, graph=True)
    kept = min(context, sinks + window)
    row(
        "streaming",
        f"StreamingLLM ({sinks} sinks + {fmt_tokens(window)})",
        f"recent {fmt_tokens(window)} of {fmt_tokens(context)}",
        kept,
        context,
        attn_window=kept,
        note="windowed prefill",
        graph=True,
    )
    row(
        "snapkv",
        f"SnapKV / H2O {ratio:g}x",
        f"{fmt_tokens(context)} ({ratio:g}x compressed)",
        math.ceil(context / ratio),
        context,
        peak_tokens=context,
        note="full prefill; memory leaves room for one uncompressed prefill; SnapKV decodes as a CUDA graph, H2O "
        "(eviction during decode) eagerly",
        graph=True,
    )
    row(
        "ring",
        f"Ring attention ({gpus} GPUs)",
        fmt_tokens(context),
        context,
        context,
        ring=True,
        note="sequence and weights split over all GPUs; sharded-KV decode, one (out, lse) all-gather per layer",
    )
    k = min(context, evidence)
    row(
        "hybrid",
        f"Hybrid (retrieve {fmt_tokens(k)})",
        f"{fmt_tokens(k)} packed",
        k,
        k,
        note="retrieval cost not included",
        graph=True,
    )
    return rows
