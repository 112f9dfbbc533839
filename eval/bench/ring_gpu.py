"""Ring attention speed on GPUs (NCCL, one process per GPU under torchrun); see `eval.bench.ring` for the CLI.

Attention alone (32 q heads, 8 KV heads, head_dim 128, bf16, causal): single-device vs zigzag ring, with the
ring's compute and its KV circulation also timed alone; then a model (``synthetic:llama3-8b``) prefilled on one GPU
and over the ring, and decode with the single-device vs the sharded KV cache. Ring efficiency = T1 / (N * TN).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

HQ, HKV, HD = 32, 8, 128


class _Gpu:
    """Timing helpers shared by the GPU measurements; rank 0 decides what still fits in the time budget."""

    def __init__(self, budget_s: float, device: str) -> None:
        import torch.distributed as dist

        from engine.parallel.launch import init_from_env

        self.dist = dist
        self.rank, self.world = init_from_env("nccl" if device == "cuda" else "gloo", timeout_s=180)
        self.dev = torch.device("cuda", torch.cuda.current_device()) if device == "cuda" else torch.device("cpu")
        self.t0, self.budget = time.perf_counter(), budget_s

    def sync(self) -> None:
        if self.dev.type == "cuda":
            torch.cuda.synchronize()

    def free(self) -> None:
        if self.dev.type == "cuda":
            torch.cuda.empty_cache()

    def go(self, est_s: float) -> bool:
        ok = torch.tensor([time.perf_counter() - self.t0 + est_s <= self.budget], device=self.dev)
        self.dist.broadcast(ok, 0)
        return bool(ok.item())

    def timed(self, fn: Any, reps: int = 2, warm: int = 1) -> float:
        for _ in range(warm):
            fn()
        best = float("inf")
        for _ in range(reps):
            self.sync()
            self.dist.barrier()
            t = time.perf_counter()
            fn()
            self.sync()
            best = min(best, time.perf_counter() - t)
        return best


def _pick_backend(requested: str, dev: torch.device) -> str:
    """``requested``, or SDPA's flash kernel if cuDNN gets a ring block (diagonal or rectangular) wrong here."""
    from engine.attention import attention

    q, k, v = (torch.randn(1, 256, h, HD, device=dev, dtype=torch.bfloat16).transpose(1, 2) for h in (HQ, HKV, HKV))
    for backend in dict.fromkeys([requested, "flash"]):
        try:
            for causal, kk, vv in ((True, k, v), (False, k.repeat(1, 1, 2, 1), v.repeat(1, 1, 2, 1))):
                out, lse = attention(q, kk, vv, causal=causal, q_offset=0, backend=backend)
                ref, ref_lse = attention(q.float(), kk.float(), vv.float(), causal=causal, q_offset=0, backend="math")
                if (out.float() - ref).abs().max() > 0.05 or (lse - ref_lse).abs().max() > 0.05:
                    raise ValueError("mismatch")
            return backend
        except Exception:  # noqa: S112 - try the next backend
            continue
    raise RuntimeError("no attention backend gave correct ring blocks on this GPU")


def _causal_flops(length: int, layers: int = 1) -> float:
    return 2.0 * length * length * HD * HQ * layers  # 4 L^2 D H, halved by the mask


def _attention_bench(g: _Gpu, length: int, backend: str) -> dict[str, float]:
    from engine.attention import attention
    from engine.parallel import ZigzagPlan, ring_attention
    from engine.parallel.ring import BlockCodec, _accumulate, _exchange

    bf = torch.bfloat16
    q, k, v = (torch.randn(1, h, length, HD, device=g.dev, dtype=bf) for h in (HQ, HKV, HKV))
    t1 = g.timed(lambda: attention(q, k, v, causal=True, backend=backend))
    del q, k, v
    plan = ZigzagPlan(length, g.world, g.rank)
    n = plan.local_len()
    q, k, v = (torch.randn(1, h, n, HD, device=g.dev, dtype=bf) for h in (HQ, HKV, HKV))
    tn = g.timed(lambda: ring_attention(q, k, v, plan, backend=backend))

    def compute_only() -> None:
        out = torch.zeros(q.shape, dtype=torch.float32, device=g.dev)
        lse = torch.full(q.shape[:3], float("-inf"), device=g.dev)
        for step in range(g.world):
            _accumulate(out, lse, q, k, v, (g.rank - step) % g.world, plan, True, None, backend)

    codec = BlockCodec(k, None)
    bufs = [torch.empty(codec.nbytes(n), dtype=torch.uint8, device=g.dev) for _ in range(2)]

    def comm_only() -> None:
        codec.encode(k, v, bufs[0])
        for step in range(g.world - 1):
            for w in _exchange(bufs[step % 2], bufs[(step + 1) % 2], None, g.rank, g.world):
                w.wait()

    tc, tx = g.timed(compute_only), g.timed(comm_only)
    flops = _causal_flops(length)
    return {"t1_s": t1, "tn_s": tn, "compute_only_s": tc, "comm_only_s": tx,
            "efficiency": t1 / (g.world * tn), "tflops_single": flops / t1 / 1e12,
            "tflops_per_gpu_ring": flops / g.world / tn / 1e12,
            "comm_hidden_fraction": min(1.0, max(0.0, 1.0 - (tn - tc) / tx)) if tx > 0 else 1.0}


def _decode_rate(g: _Gpu, step: Any, start: int, n: int = 16) -> float:
    """Tokens/s of ``step(pos)`` called for positions ``start, start + 1, ...`` (one warm-up step first)."""
    step(start)
    g.sync()
    t = time.perf_counter()
    for i in range(1, n + 1):
        step(start + i)
    g.sync()
    return n / (time.perf_counter() - t)


def _model_bench(g: _Gpu, name: str, lengths: list[int], single_max: int, backend: str, res: dict[str, Any],
                 save: Any) -> None:
    """Prefill of ``name`` on one GPU (each rank alone), then over the ring; decode at the first length."""
    from engine.kv.cache import KVCache
    from engine.parallel import ShardedKVCache, apply_ring, ring_decode, ring_prefill
    from engine.weights import load_model

    model = load_model(name, device=g.dev, dtype=torch.bfloat16, max_seq_len=max(lengths) + 64)
    model.set_attention_backend(backend)
    cfg, rows, bf = model.config, res.setdefault("model", {}), torch.bfloat16
    est = {L: (_causal_flops(L, cfg.n_layers) + 2 * 7e9 * L) / 550e12 for L in lengths}
    first = lengths[0]
    with torch.inference_mode():
        model(torch.zeros(1, min(8192, first), dtype=torch.long, device=g.dev), last_only=True)  # warm-up
        for L in [x for x in lengths if x <= single_max]:  # one device
            if not g.go(est[L]):
                break
            toks = torch.randint(0, cfg.vocab_size, (1, L), generator=torch.Generator().manual_seed(L)).to(g.dev)
            kv = KVCache(cfg.n_layers, cfg.n_kv_heads, cfg.head_dim, L + 32, dtype=bf, device=g.dev) \
                if L == first else None
            rows.setdefault(str(L), {})["t1_s"] = g.timed(lambda t=toks, c=kv: model(t, 0, c, last_only=True), 1, 0)
            if kv is not None:
                last = toks[:, -1:]
                res["decode_tok_s_1gpu"] = _decode_rate(g, lambda p, t=last, c=kv: model(t, p, c, last_only=True), L)
                res["decode_context"] = L
            del kv, toks  # free the memory before the next length
            g.free()
            save()
        apply_ring(model)
        ring_prefill(model, torch.zeros(1, min(8192, first), dtype=torch.long, device=g.dev))  # warm-up
        for L in lengths:  # the ring
            if not g.go(est[L] / g.world):
                break
            toks = torch.randint(0, cfg.vocab_size, (1, L), generator=torch.Generator().manual_seed(L)).to(g.dev)
            sharded = ShardedKVCache(cfg, L // g.world + 64, dtype=bf, device=g.dev) if L == first else None
            row = rows.setdefault(str(L), {})
            row["tn_s"] = tn = g.timed(lambda t=toks, c=sharded: ring_prefill(model, t, c), 1, 0)
            if "t1_s" in row:
                row["efficiency"] = row["t1_s"] / (g.world * tn)
                if L == 262144:
                    res[f"model_ring_efficiency_{g.world}gpu_256k"] = row["efficiency"]
            res["max_tokens_2gpu" if g.world == 2 else f"max_tokens_{g.world}gpu"] = L
            if sharded is not None:
                last = toks[:, -1:]
                rate = _decode_rate(g, lambda _, t=last, c=sharded: ring_decode(model, t, c), L)
                res[f"decode_tok_s_{g.world}gpu"] = rate
            if g.dev.type == "cuda":
                res["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2**30
            del sharded, toks
            g.free()
            save()


def gpu_main(args: argparse.Namespace) -> dict[str, Any]:
    g = _Gpu(args.budget_s, args.device)
    lengths = [int(x) for x in args.lengths.split(",")]
    res: dict[str, Any] = {
        "command": " ".join(["torchrun", f"--nproc-per-node {g.world}", "-m eval.bench.ring", *sys.argv[1:]]),
        "machine": f"{g.world} x {torch.cuda.get_device_name() if g.dev.type == 'cuda' else platform.processor()}, "
                   f"torch {torch.__version__}, {platform.node()}",
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "world_size": g.world, "dtype": "bfloat16",
        "attention_shape": {"q_heads": HQ, "kv_heads": HKV, "head_dim": HD, "causal": True}, "attention": {}}

    def save() -> None:
        if g.rank == 0 and args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(res, indent=2) + "\n")

    res["backend"] = backend = _pick_backend(args.backend, g.dev)

    def attention_pass(ls: list[int]) -> None:
        for L in ls:
            if not g.go(3 * 4 * _causal_flops(L) / 450e12):
                return
            try:
                res["attention"][str(L)] = row = _attention_bench(g, L, backend)
            except Exception as exc:  # e.g. a kernel's size limit: keep what was measured
                res["attention"][str(L)] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
                save()
                return
            res["ring_attn_tflops_per_gpu"] = row["tflops_per_gpu_ring"]
            if L == 262144:
                res["ring_efficiency_2gpu_256k" if g.world == 2 else f"ring_efficiency_{g.world}gpu_256k"] = \
                    row["efficiency"]
            g.free()
            save()

    attention_pass([L for L in lengths if L <= 262144])  # the riskiest sizes (2^31-element tensors) go last
    if args.model:
        try:
            _model_bench(g, args.model_name, [int(x) for x in args.model_lengths.split(",")], args.single_max, backend,
                         res, save)
        except Exception as exc:
            res["model_error"] = f"{type(exc).__name__}: {exc}"[:500]
    attention_pass([L for L in lengths if L > 262144])
    res["elapsed_s"] = time.perf_counter() - g.t0
    save()
    g.dist.destroy_process_group()
    return res
