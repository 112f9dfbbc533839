"""Functions run inside gloo ranks by `engine.parallel.launch.run_local` (importable, so spawn can find them).

Every rank builds the same inputs from fixed seeds, computes the single-process reference itself and returns the
differences; the tests assert on them.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

from engine.attention import attention
from engine.kv.cache import KVCache
from engine.model import Transformer

# (name, T, causal, Hq, Hkv, D, quant): lengths not divisible by 2N, GQA, a length with empty zigzag chunks
ATTN_CASES: list[tuple[str, int, bool, int, int, int, str | None]] = [
    ("causal_gqa", 37, True, 4, 2, 16, None),
    ("causal_mha", 29, True, 3, 3, 8, None),
    ("noncausal_gqa", 37, False, 6, 2, 16, None),
    ("causal_mqa", 41, True, 4, 1, 8, None),
    ("causal_int8", 37, True, 4, 2, 16, "int8"),
    ("causal_fp8", 37, True, 4, 2, 16, "fp8"),
]
PROMPT_LEN, NEW_TOKENS = 29, 6


def _attention_case(rank: int, world: int, T: int, causal: bool, hq: int, hkv: int, d: int,
                    quant: str | None) -> tuple[float, float]:
    from engine.parallel import ZigzagPlan, ring_attention

    g = torch.Generator().manual_seed(T * 7 + hq)
    q, k, v = (torch.randn(2, h, T, d, generator=g) for h in (hq, hkv, hkv))
    ref_out, ref_lse = attention(q, k, v, causal=causal)
    plan = ZigzagPlan(T, world, rank)
    idx = plan.positions()
    out, lse = ring_attention(q[:, :, idx], k[:, :, idx], v[:, :, idx], plan, causal=causal, quant=quant)
    return (out - ref_out[:, :, idx]).abs().max().item(), (lse - ref_lse[:, :, idx]).abs().max().item()


def _reference_greedy(model: Transformer, ids: list[int], n_new: int) -> list[int]:
    cfg = model.config
    cache = KVCache(cfg.n_layers, cfg.n_kv_heads, cfg.head_dim, len(ids) + n_new)
    logits = model(torch.tensor([ids]), 0, cache, last_only=True)
    new = [int(logits[0, -1].argmax())]
    for pos in range(len(ids), len(ids) + n_new - 1):
        logits = model(torch.tensor([[new[-1]]]), pos, cache, last_only=True)
        new.append(int(logits[0, -1].argmax()))
    return new


def _model(source: str) -> Transformer:
    """A named tiny shape with seeded default init (fast to build), or a checkpoint path through `load_model`."""
    from engine.config import ModelConfig

    if source not in ("tiny-llama3", "tiny-qwen2"):
        from engine.weights import load_model

        return load_model(source, max_seq_len=2048)
    torch.manual_seed(0)
    model = Transformer(ModelConfig.named(source))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or name.endswith("bias"):
                p.copy_(torch.randn_like(p) * 0.1 + name.endswith("norm.weight"))
    model.setup_rope(256)
    return model.eval().requires_grad_(False)


def model_case(rank: int, world: int, source: str, prompt: list[int], n_new: int,
               quant: str | None = None) -> dict[str, Any]:
    """Whole-model logits and greedy tokens: single-process engine vs ring prefill + sharded decode."""
    from engine.parallel import ShardedKVCache, apply_ring, ring_decode, ring_generate, ring_prefill

    model = _model(source)
    with torch.inference_mode():
        ref_logits = model(torch.tensor([prompt]))
        ref_tokens = _reference_greedy(model, prompt, n_new)
    apply_ring(model, quant=quant)
    logits = ring_prefill(model, torch.tensor([prompt]), output="all")
    last = ring_prefill(model, torch.tensor([prompt]), output="last")
    tokens = ring_generate(model, prompt, n_new)
    cache = ShardedKVCache(model.config, len(prompt) // world + n_new)
    ring_prefill(model, torch.tensor([prompt]), cache)
    for tok in tokens[:-1]:
        ring_decode(model, torch.tensor([[tok]]), cache)
    return {"shard_lengths": cache.lengths, "cache_total": cache.total,
            "logits_diff": (logits - ref_logits).abs().max().item(), "logits_max": ref_logits.abs().max().item(),
            "last_diff": (last[:, -1] - ref_logits[:, -1]).abs().max().item(),
            "ref_tokens": ref_tokens, "tokens": tokens}


def suite(rank: int, world: int) -> dict[str, Any]:
    """All exactness checks for one world size, in one set of processes (starting processes is the slow part)."""
    attn = {name: _attention_case(rank, world, T, causal, hq, hkv, d, quant)
            for name, T, causal, hq, hkv, d, quant in ATTN_CASES}
    attn["empty_chunks"] = _attention_case(rank, world, world + 1, True, 4, 2, 8, None)
    prompt = torch.randint(0, 256, (PROMPT_LEN,), generator=torch.Generator().manual_seed(3)).tolist()
    return {"attention": attn,
            "llama": model_case(rank, world, "tiny-llama3", prompt, NEW_TOKENS),
            "qwen2": model_case(rank, world, "tiny-qwen2", prompt, NEW_TOKENS)}


def smollm2(rank: int, world: int, prompt: list[int], n_new: int) -> dict[str, Any]:
    from engine.assets import smollm2_gguf

    return model_case(rank, world, str(smollm2_gguf()), prompt, n_new)


def mismatched_config(rank: int, world: int) -> str:
    """Rank 1 loads a different shape: apply_ring must raise on every rank."""
    from engine.parallel import apply_ring

    model = _model("tiny-qwen2" if rank == 1 else "tiny-llama3")
    try:
        apply_ring(model)
    except ValueError as exc:
        return str(exc)
    return "no error"


def rank_dies(rank: int, world: int) -> str:
    """The last rank leaves before the ring prefill: the others must fail, not hang."""
    from engine.parallel import ZigzagPlan, ring_attention

    if rank == world - 1:
        return "left"
    plan = ZigzagPlan(16, world, rank)
    x = torch.randn(1, 2, plan.local_len(), 8)
    try:
        ring_attention(x, x, x, plan)
        dist.barrier()
    except Exception as exc:  # gloo reports a timeout or a closed connection
        return f"error: {type(exc).__name__}"
    return "no error"
