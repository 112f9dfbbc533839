"""Ring attention benchmark: exactness on CPU (gloo ranks) and prefill/decode speed on GPUs (NCCL, torchrun).

CPU:  `longhaul bench ring --device cpu --json` (or `python -m eval.bench.ring cpu`): ring vs single-process
      attention, max abs diff of output and LSE, at world sizes 2, 3, 4.
GPU:  `torchrun --nproc-per-node 2 -m eval.bench.ring gpu --out eval/results/ring_gpu.json`: attention alone
      (32 q heads, 8 KV heads, head_dim 128, bf16, causal) single-device vs ring, then `synthetic:llama3-8b`
      prefill on 1 and N GPUs and decode with the sharded cache. Ring efficiency = T1 / (N * TN).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import torch


def _cpu_worker(rank: int, world: int, length: int) -> dict[str, float]:
    from engine.attention import attention
    from engine.parallel import ZigzagPlan, ring_attention

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, h, length, 32, generator=g) for h in (8, 2, 2))
    plan = ZigzagPlan(length, world, rank)
    idx = plan.positions()
    res: dict[str, float] = {"out": 0.0, "lse": 0.0}
    for causal in (True, False):
        ref_out, ref_lse = attention(q, k, v, causal=causal)
        out, lse = ring_attention(q[:, :, idx], k[:, :, idx], v[:, :, idx], plan, causal=causal)
        res["out"] = max(res["out"], (out - ref_out[:, :, idx]).abs().max().item())
        res["lse"] = max(res["lse"], (lse - ref_lse[:, :, idx]).abs().max().item())
    return res


def cpu_exactness(world_sizes: tuple[int, ...] = (2, 3, 4), length: int = 1001) -> dict[str, Any]:
    """Ring attention (gloo processes on this machine) vs single-process attention, fp32, GQA, both masks."""
    from engine.parallel.launch import run_local

    diffs: dict[str, float] = {}
    lse = 0.0
    for world in world_sizes:
        per_rank = run_local(_cpu_worker, world, length, timeout_s=120)
        diffs[str(world)] = max(r["out"] for r in per_rank)
        lse = max(lse, *(r["lse"] for r in per_rank))
    return {"ring_max_abs_diff": max(diffs.values()), "ring_lse_max_abs_diff": lse, "per_world_size": diffs,
            "world_sizes": list(world_sizes), "length": length, "dtype": "float32", "backend": "gloo",
            "heads": {"q": 8, "kv": 2, "head_dim": 32}}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["cpu", "gpu"])
    p.add_argument("--world-sizes", default="2,3,4")
    p.add_argument("--length", type=int, default=1001)
    p.add_argument("--lengths", default="131072,262144,524288")
    p.add_argument("--model", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--model-name", default="synthetic:llama3-8b")
    p.add_argument("--device", default="cuda", help="gpu mode: cuda (NCCL) or cpu (gloo, a dry run)")
    p.add_argument("--model-lengths", default="131072,262144,524288")
    p.add_argument("--single-max", type=int, default=262144, help="longest 1-GPU model prefill to time")
    p.add_argument("--backend", default="auto")
    p.add_argument("--budget-s", type=float, default=300.0)
    p.add_argument("--out", default="")
    args = p.parse_args(argv)
    if args.mode == "cpu":
        res = cpu_exactness(tuple(int(x) for x in args.world_sizes.split(",")), args.length)
    else:
        from eval.bench.ring_gpu import gpu_main

        res = gpu_main(args)
        if int(os.environ.get("RANK", "0")) != 0:
            return
    print(json.dumps(res))


if __name__ == "__main__":
    main()
