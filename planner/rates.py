"""Capacity planner: memory, latency and cost of long-context strategies, from model shape and measured rates.

Arithmetic only (no torch). Rates live in ``planner/calibration.json`` with their provenance; the prefill model is
matmul FLOPs (2 x layer params x tokens) over the calibrated matmul rate plus causal attention FLOPs
(2 x layers x heads x head_dim x tokens^2) over the measured attention rate; a decode step is the larger of the
engine's per-layer launch floor and weights / HBM bandwidth + KV bytes / KV read bandwidth (eager decode: compressed
caches, ring sharded decode), or a CUDA graph's small per-layer device floor plus that memory time (graph decode:
uncompressed caches on one GPU). Across GPUs each layer adds one collective of ``gpus - 1`` hops. Per-step work of some
KV choices (H2O's attention accumulation, quantized KV's dequantization) adds calibrated host time per layer to the
floor; quantized KV bytes follow engine's own layout table, ``engine/kv/formats.py`` (planner/kv_bytes.py).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from engine.config import SHAPES, ModelConfig
from engine.kv.formats import FORMATS
from planner.kv_bytes import quant_kv_bytes

CALIBRATION_PATH = Path(__file__).with_name("calibration.json")
STRATEGIES = ("full", "streaming", "snapkv", "ring", "hybrid")
KV_DTYPES = {
    "fp32": 4.0,
    "bf16": 2.0,
    "fp16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "int4": 0.5,
    "int8-channel": 1.0,
    "fp8-channel": 1.0,
}
WEIGHT_DTYPES = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0}


@dataclass(frozen=True)
class Rates:
    """Per-GPU rates (FLOP/s, bytes/s, seconds) of one GPU kind."""

    gpu: str
    memory_bytes: float
    usable_fraction: float
    matmul_flops: float
    attn_flops_by_len: tuple[tuple[int, float], ...]
    ring_attn_flops_per_gpu: float
    ring_overlap: float
    hbm_bytes_per_s: float
    kv_read_bytes_per_s: float
    step_overhead_s_per_layer: float
    step_overhead_math_s_per_layer: float
    h2o_step_s_per_layer: float
    quant_step_s_per_layer: float
    hf_generate_s_per_layer: float
    graph_step_s_per_layer: float
    graph_kv_read_bytes_per_s: float
    graph_int8_kv_read_bytes_per_s: float
    collective_s_per_hop: float

    def attn_flops(self, length: int) -> float:
        """Causal attention FLOP/s at ``length`` tokens (log-linear between measured lengths, clamped)."""
        pts = self.attn_flops_by_len
        if length <= pts[0][0]:
            return pts[0][1]
        for (l0, r0), (l1, r1) in zip(pts, pts[1:], strict=False):
            if length <= l1:
                f = (math.log2(length) - math.log2(l0)) / (math.log2(l1) - math.log2(l0))
                return r0 + f * (r1 - r0)
        return pts[-1][1]

    @property
    def usable_bytes(self) -> float:
        return self.memory_bytes * self.usable_fraction


def load_calibration(path: Path | None = None) -> dict[str, Any]:
    return json.loads((path or CALIBRATION_PATH).read_text())


def rates_for(gpu: str, calib: dict[str, Any] | None = None) -> Rates:
    """The calibrated rates of ``gpu`` (e.g. ``h200``)."""
    gpus = (calib or load_calibration())["gpus"]
    if gpu not in gpus:
        raise ValueError(f"unknown gpu {gpu!r}: choose one of {', '.join(gpus)} "
                         "(or add it to planner/calibration.json)")
    g = gpus[gpu]
    table = tuple(sorted((int(k), float(v)) for k, v in g["attn_flops_by_len"].items()))
    scalars = {f.name: float(g[f.name]) for f in fields(Rates) if f.name not in ("gpu", "attn_flops_by_len")}
    return Rates(gpu=gpu, attn_flops_by_len=table, **scalars)


def resolve_model(model: str) -> ModelConfig:
    """A named shape (``llama3-8b``, ``llama3-70b``, ``smollm2-135m`` ...) or the path of an HF ``config.json``."""
    if model in SHAPES:
        return ModelConfig.named(model)
    path = Path(model)
    if path.is_dir():
        path = path / "config.json"
    if path.suffix == ".json" and path.is_file():
        return ModelConfig.from_hf_config(json.loads(path.read_text()))
    raise ValueError(f"unknown model {model!r}: choose one of {', '.join(SHAPES)} or give an HF config.json path")


def parse_tokens(text: str | int) -> int:
    """``128K`` -> 131072, ``1M`` -> 1048576, ``8192`` -> 8192."""
    s = str(text).strip().upper()
    mult = {"K": 1024, "M": 1024**2}.get(s[-1:], 1)
    num = s[:-1] if mult > 1 else s
    try:
        value = int(float(num) * mult)
    except ValueError:
        raise ValueError(f"bad token count {text!r}: use an integer or a K/M suffix, e.g. 8192, 128K, 1M") from None
    if value <= 0:
        raise ValueError(f"token count must be positive, got {text!r}")
    return value


def layer_params(cfg: ModelConfig) -> int:
    """Matmul parameters of the decoder layers (q, k, v, o, gate, up, down): FLOPs per token / 2."""
    attn = cfg.dim * cfg.head_dim * (2 * cfg.n_heads + 2 * cfg.n_kv_heads)
    return cfg.n_layers * (attn + 3 * cfg.dim * cfg.ffn_dim)


def total_params(cfg: ModelConfig) -> int:
    """All parameters: layers, norms, embedding and (untied) LM head."""
    norms = cfg.n_layers * 2 * cfg.dim + cfg.dim
    bias = cfg.n_layers * cfg.head_dim * (cfg.n_heads + 2 * cfg.n_kv_heads) if cfg.qkv_bias else 0
    embed = cfg.vocab_size * cfg.dim * (1 if cfg.tie_embeddings else 2)
    return layer_params(cfg) + norms + bias + embed


def _check_dtype(dtype: str, table: dict[str, float], what: str) -> float:
    if dtype not in table:
        raise ValueError(f"unknown {what} dtype {dtype!r}: choose one of {', '.join(table)}")
    return table[dtype]


def kv_bytes_per_token(cfg: ModelConfig, kv_dtype: str = "bf16") -> float:
    """2 (K and V) x layers x kv_heads x head_dim x bytes; quantized formats add their fp16 scales (and zero points)
    as engine/kv/formats.py lays them out (per token, or per channel for every group of tokens)."""
    size = _check_dtype(kv_dtype, KV_DTYPES, "KV")
    if kv_dtype in FORMATS:
        return cfg.n_layers * cfg.n_kv_heads * FORMATS[kv_dtype].bytes_per_token(cfg.head_dim)
    return 2 * cfg.n_layers * cfg.n_kv_heads * cfg.head_dim * size


def kv_bytes(cfg: ModelConfig, tokens: int, kv_dtype: str = "bf16", compute_dtype: str = "bf16") -> float:
    """KV bytes of ``tokens`` per layer; quantized formats keep their newest tokens in ``compute_dtype``."""
    if kv_dtype in FORMATS:
        compute = _check_dtype(compute_dtype, KV_DTYPES, "compute")
        return quant_kv_bytes(cfg.n_layers, cfg.n_kv_heads, cfg.head_dim, tokens, FORMATS[kv_dtype], compute)
    return tokens * kv_bytes_per_token(cfg, kv_dtype)


def weight_bytes(cfg: ModelConfig, weight_dtype: str = "bf16") -> float:
    return total_params(cfg) * _check_dtype(weight_dtype, WEIGHT_DTYPES, "weight")


def attention_flops(cfg: ModelConfig, tokens: int, window: int | None = None) -> float:
    """Causal attention FLOPs of a prefill (QK and PV); with ``window`` each query sees at most that many keys."""
    per = 2 * cfg.n_layers * cfg.n_heads * cfg.head_dim
    if window is None or window >= tokens:
        return per * tokens * tokens
    return per * (window * window + 2 * window * (tokens - window))


def prefill_seconds(
    cfg: ModelConfig, tokens: int, rates: Rates, gpus: int = 1, ring: bool = False, window: int | None = None
) -> float:
    """Prefill time of one sequence; the work splits evenly over ``gpus`` (tensor parallel, or ring attention)."""
    if gpus < 1:
        raise ValueError(f"gpus must be >= 1, got {gpus}")
    linear = 2 * layer_params(cfg) * tokens / (gpus * rates.matmul_flops)
    attn = attention_flops(cfg, tokens, window)
    if ring and gpus > 1:
        return linear + attn / (gpus * rates.ring_attn_flops_per_gpu * rates.ring_overlap)
    return linear + attn / (gpus * rates.attn_flops(min(tokens, window or tokens)))


def decode_step_seconds(
    cfg: ModelConfig,
    kv_bytes: float,
    rates: Rates,
    weights: float,
    gpus: int = 1,
    batch: int = 1,
    weight_shards: int | None = None,
    backend: str = "cudnn",
    host_s_per_layer: float = 0.0,
    sync_s: float = 0.0,
    graph: bool = False,
    int8_kv: bool = False,
) -> float:
    """One decode step of ``batch`` requests, each with ``kv_bytes`` of KV split over ``gpus``.

    Eager (``graph=False``): on one GPU the host's kernel launches overlap the device's memory traffic (the larger
    wins); across GPUs the per-layer collective makes the host wait for the device, so the two add.
    ``host_s_per_layer`` is extra launch work per layer (e.g. ``rates.h2o_step_s_per_layer``), added to the floor;
    ``sync_s`` is host time the device waits for every step (a framework that synchronizes each step, e.g.
    transformers ``generate()``), added to the step.

    Graph (``graph=True``, engine/llm.py's CUDA-graph decode of an uncompressed cache): no launches, so the floor is
    the device's own per-layer time (small kernels, in series with the memory traffic) and the KV is read at the
    split-KV kernel's rate; pass the bytes up to the position (engine/decode_kernel.py reads no further);
    ``int8_kv``: the cache holds int8 codes with per-token scales (read at their own calibrated rate).

    Across GPUs every layer adds one collective of ``gpus - 1`` hops (engine/parallel/decode.py all-gathers each
    rank's (out, lse) every layer: a ring all-gather of a few KB is latency bound, one latency per hop).
    """
    if graph and host_s_per_layer:
        raise ValueError(
            "graph decode has no per-layer host work: compressed or quantized caches decode eagerly "
            "(pass graph=False with host_s_per_layer)"
        )
    shards = gpus if weight_shards is None else weight_shards
    kv_rate = rates.graph_kv_read_bytes_per_s if graph else rates.kv_read_bytes_per_s
    if graph and int8_kv:  # int8 codes + per-token scales read by the graph's kernel (engine/decode_kernel.py)
        kv_rate = rates.graph_int8_kv_read_bytes_per_s
    memory = weights / shards / rates.hbm_bytes_per_s + batch * kv_bytes / gpus / kv_rate
    collective = cfg.n_layers * (gpus - 1) * rates.collective_s_per_hop
    if graph:
        return sync_s + cfg.n_layers * rates.graph_step_s_per_layer + memory + collective
    per_layer = rates.step_overhead_math_s_per_layer if backend == "math" else rates.step_overhead_s_per_layer
    floor = cfg.n_layers * (per_layer + host_s_per_layer)
    return sync_s + (floor + memory + collective if gpus > 1 else max(floor, memory))
