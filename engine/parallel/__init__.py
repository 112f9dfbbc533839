"""Parallelism across GPUs, applied to the single-device model from outside: ring attention and sharded-KV decode.

    model = apply_ring(load_model(...), group)           # every rank, after torch.distributed is initialised
    logits = ring_prefill(model, tokens, cache)          # zigzag-sharded prompt, KV kept per rank in `cache`
    logits = ring_decode(model, next_tokens, cache)      # local partial attention + one all-gather of (out, lse)

KV compression with a global budget: pass a `CompressedShardedKVCache(cfg, KVSpec(SnapKV(budget=512)), ...)` as the
cache, or ``RingLLM.generate(prompt, kv_policy=KVSpec(...))``.
"""

from engine.parallel.compress import CompressedShardedKVCache, ring_spec
from engine.parallel.decode import ShardedKVCache, combine
from engine.parallel.ring import QUANT_MODES, ZigzagPlan, ring_attention
from engine.parallel.transform import RingAttention, apply_ring, ring_decode, ring_generate, ring_prefill

__all__ = ["QUANT_MODES", "CompressedShardedKVCache", "RingAttention", "ShardedKVCache", "ZigzagPlan", "apply_ring",
           "combine", "ring_attention", "ring_decode", "ring_generate", "ring_prefill", "ring_spec"]
