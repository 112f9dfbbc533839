"""GPU-only engine metrics: model FLOP/s in prefill vs the measured matmul rate, decode vs the HBM roofline,
and attention TFLOP/s of our `attention()` at 32K."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import torch

from engine import attention as attention_mod
from engine.attention import attention
from engine.llm import LLM


def _time(fn: Callable[[], object], reps: int = 5) -> float:
    fn()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best


def matmul_flops(n: int = 8192) -> float:
    g = torch.Generator(device="cuda").manual_seed(0)  # a private generator: graph capture registers the default
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16, generator=g)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16, generator=g)
    return 2 * n**3 / _time(lambda: a @ b, 10)


def copy_bandwidth(n_bytes: int = 4 << 30) -> float:
    src = torch.empty(n_bytes // 2, device="cuda", dtype=torch.bfloat16)
    dst = torch.empty_like(src)
    return 2 * n_bytes / _time(lambda: dst.copy_(src), 10)  # read + write


def prefill_flops(llm: LLM, n: int) -> float:
    """Model FLOPs of a prefill of ``n`` tokens: 2 x non-embedding params x n plus causal attention (QK and PV)."""
    c = llm.config
    params = sum(p.numel() for name, p in llm.model.named_parameters() if not name.startswith(("embed", "lm_head")))
    return 2 * params * n + 2 * c.n_layers * c.n_heads * c.head_dim * n * n  # 4 * L^2/2 * H * D per layer


def decode_bytes(llm: LLM, context: int) -> float:
    """Bytes read per decoded token: every weight but the embedding table, plus the KV cache up to ``context``."""
    w = sum(p.numel() * p.element_size() for name, p in llm.model.named_parameters() if not name.startswith("embed"))
    if llm.config.tie_embeddings:
        w += llm.model.lm_head.weight.numel() * llm.model.lm_head.weight.element_size()
    return w + llm.kv_bytes_for(context)


def attention_tflops(n: int = 32768, heads: int = 32, kv_heads: int = 8, dim: int = 128) -> dict[str, float]:
    """Causal attention TFLOP/s of each CUDA backend, and cuDNN's max deviation from flash (GQA check)."""
    g = torch.Generator(device="cuda").manual_seed(0)
    q = torch.randn(1, heads, n, dim, device="cuda", dtype=torch.bfloat16, generator=g)
    k = torch.randn(1, kv_heads, n, dim, device="cuda", dtype=torch.bfloat16, generator=g)
    v = torch.randn(1, kv_heads, n, dim, device="cuda", dtype=torch.bfloat16, generator=g)
    flops = 2 * heads * dim * n * n
    out: dict[str, float] = {}
    for backend in ("sdpa", "flash", "flex"):
        try:
            out[f"attn_tflops_{backend}"] = flops / _time(functools.partial(attention, q, k, v, backend=backend)) / 1e12
        except Exception as exc:  # noqa: BLE001 - a backend missing on this GPU is reported, not fatal
            out[f"attn_error_{backend}"] = str(exc)[:200]  # type: ignore[assignment]
    for kvh in (2, 4, 8):  # cuDNN vs flash for GQA with few KV heads (a corruption bug was reported elsewhere)
        kk, vv = k[:, :kvh, :4096], v[:, :kvh, :4096]
        a, _ = attention(q[:, :, :4096], kk, vv, backend="sdpa")
        b, _ = attention(q[:, :, :4096], kk, vv, backend="flash")
        out[f"cudnn_vs_flash_maxdiff_kv{kvh}"] = (a.float() - b.float()).abs().max().item()
    return out


def variants(llm: LLM, context: int = 32768, decode_tokens: int = 16) -> dict[str, Any]:
    """Prefill tok/s per attention backend and decode tok/s per decode mode at ``context`` (the engine's choices).

    Also whether graph and eager decode give the same greedy tokens. The engine's defaults are restored after.
    """
    prompt = torch.randint(0, min(llm.config.vocab_size, 30000), (context,),
                           generator=torch.Generator().manual_seed(1)).tolist()
    out: dict[str, Any] = {"context": context}

    def run(n_new: int) -> Any:
        llm._cached_ids = []
        return llm.generate(prompt, max_new_tokens=n_new, ignore_eos=True)

    for backend in ("auto", "sdpa", "flash"):
        llm.model.set_attention_backend(backend)
        try:
            best = max(context / (run(1).timings_ms["prefill"] / 1e3) for _ in range(2))
            out[f"prefill_tok_s_{backend}"] = best
        except Exception as exc:  # noqa: BLE001 - a backend this GPU lacks is reported, not fatal
            out[f"prefill_error_{backend}"] = str(exc)[:200]
    llm.model.set_attention_backend("auto")
    mode, tokens = llm.decode_mode, {}
    for name, m, kernels in (("graph", "graph", True), ("graph_torch_ops", "graph", False), ("eager", "eager", True)):
        attention_mod.DECODE_KERNELS = kernels  # False: attention and rotary as torch ops (the previous engine)
        llm.decode_mode, llm._graph = m, None
        g = run(decode_tokens)
        out[f"decode_tok_s_{name}"], tokens[name] = g.decode_tok_s, g.token_ids
        out[f"decode_mode_used_{name}"] = llm.decode_mode  # "eager" here if the graph capture failed
    attention_mod.DECODE_KERNELS = True
    llm.decode_mode, llm._graph = mode, None
    out["graph_tokens_equal_eager"] = tokens["graph"] == tokens["eager"]
    out["graph_tokens_equal_graph_torch_ops"] = tokens["graph"] == tokens["graph_torch_ops"]
    out["decode_kernel_speedup"] = out["decode_tok_s_graph"] / out["decode_tok_s_graph_torch_ops"]
    return out


def gpu_metrics(llm: LLM, rows: list[dict[str, Any]]) -> dict[str, Any]:
    mm, bw = matmul_flops(), copy_bandwidth()
    by_ctx = {r["context"]: r for r in rows}
    res: dict[str, Any] = {"gpu_matmul_tflops": mm / 1e12, "gpu_copy_tb_s": bw / 1e12, "variants": variants(llm)}
    if 32768 in by_ctx:
        r = by_ctx[32768]
        res["gpu_prefill_mfu_32k"] = prefill_flops(llm, 32768) * r["prefill_tok_s"] / 32768 / mm
        roofline = bw / decode_bytes(llm, 32768)
        res["gpu_decode_roofline_tok_s_32k"] = roofline
        res["gpu_decode_roofline_frac"] = r["decode_tok_s"] / roofline
    attn = attention_tflops()
    res["gpu_attn_tflops"] = attn.get("attn_tflops_sdpa")
    res["attention"] = attn
    return res
