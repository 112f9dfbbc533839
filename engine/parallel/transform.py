"""`apply_ring`: turn a single-device `Transformer` into a ring-parallel one, then `ring_prefill` / `ring_decode`.

The transform swaps each block's attention for `RingAttention` (same weights, same projections) whose attention core
is chosen by the context passed as the block's ``cache``: `RingPrefill` (zigzag ring attention over the sharded
prompt) or `ShardedKVCache` (decode against the sharded cache). Everything else (embedding, norms, MLP, head) is
per-token, so each rank runs it on its own positions only. The model file itself never sees torch.distributed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields

import torch
import torch.distributed as dist
from torch import nn

from engine.model import Attention, Transformer
from engine.parallel.decode import ShardedKVCache
from engine.parallel.ring import QUANT_MODES, ZigzagPlan, ring_attention


@dataclass
class RingPrefill:
    """The ``cache`` argument of a ring prefill forward: the sharding, and where to keep the KV (if anywhere)."""

    plan: ZigzagPlan
    group: dist.ProcessGroup | None
    quant: str | None = None
    store: ShardedKVCache | None = None

    def attend(self, layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, backend: str) -> torch.Tensor:
        """(B, Hq, n_local, D) ring attention of this rank's queries over the whole prompt."""
        if self.store is not None:
            self.store.store_prefill(layer, k, v, q)
        out, _ = ring_attention(q, k, v, self.plan, self.group, backend=backend, quant=self.quant)
        return out


class RingAttention(Attention):
    """`engine.model.Attention` with a pluggable attention core: the ``cache`` argument's ``attend`` method."""

    def __init__(self, attn: Attention) -> None:
        nn.Module.__init__(self)  # shares ``attn``'s weights instead of allocating new ones
        self.layer, self.n_heads, self.n_kv, self.hd = attn.layer, attn.n_heads, attn.n_kv, attn.hd
        self.q_dim, self.kv_dim = attn.q_dim, attn.kv_dim
        self.wqkv, self.wo, self.backend = attn.wqkv, attn.wo, attn.backend

    def forward(  # type: ignore[override]  # ring ranks take their own caches: never a KVCache or a tensor start
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, start: int,
        cache: RingPrefill | ShardedKVCache | None,
    ) -> torch.Tensor:
        if cache is None or not hasattr(cache, "attend"):
            raise ValueError("a ring-parallel model runs through ring_prefill() and ring_decode() (with a "
                             "ShardedKVCache), not model(tokens)")
        B, T, _ = x.shape
        q, k, v = self.project(x, cos, sin)
        y = cache.attend(self.layer, q, k, v, self.backend)  # (B, H, T, hd)
        return self.wo(y.transpose(1, 2).reshape(B, T, self.q_dim))


def _agree(value: int, what: str, group: dist.ProcessGroup | None, device: torch.device) -> None:
    """Raise ValueError on every rank unless all ranks pass the same ``value`` (one small all-gather)."""
    world = dist.get_world_size(group)
    mine = torch.tensor([value], dtype=torch.int64, device=device)
    parts = [torch.empty_like(mine) for _ in range(world)]
    dist.all_gather(parts, mine, group=group)
    values = [int(p) for p in parts]
    if len(set(values)) > 1:
        bad = [r for r, x in enumerate(values) if x != values[0]]
        raise ValueError(f"{what} differs across ranks (ranks {bad} differ from rank 0): every rank must load the "
                         "same model and receive the same request")


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little", signed=True)


def apply_ring(model: Transformer, group: dist.ProcessGroup | None = None, *, quant: str | None = None) -> Transformer:
    """Make ``model`` ring-parallel over ``group`` (in place; returns it); every rank must call it.

    ``quant`` (None, "int8", "fp8") quantizes the KV blocks circulated during prefill. Raises ValueError on every
    rank if the ranks' model configs differ.
    """
    if not dist.is_initialized():
        raise ValueError("apply_ring needs torch.distributed initialised: see engine.parallel.launch")
    if quant is not None and quant not in QUANT_MODES:
        raise ValueError(f"unknown KV quantization {quant!r}: choose one of None, {', '.join(QUANT_MODES)}")
    cfg = model.config
    spec = repr([(f.name, getattr(cfg, f.name)) for f in fields(cfg) if f.compare])
    _agree(_digest(spec + repr(quant)), "the model config", group, model.norm.weight.device)
    for block in model.layers:
        if not isinstance(block.attn, RingAttention):  # type: ignore[union-attr]
            block.attn = RingAttention(block.attn)  # type: ignore[union-attr,arg-type]
    model.ring_group, model.ring_quant = group, quant  # type: ignore[assignment]
    return model


def _ring_of(model: Transformer) -> tuple[dist.ProcessGroup | None, str | None]:
    if not hasattr(model, "ring_group"):
        raise ValueError("the model is not ring-parallel: call apply_ring(model, group) first")
    return model.ring_group, model.ring_quant  # type: ignore[return-value]


def _gather_logits(local: torch.Tensor, plan: ZigzagPlan, group: dist.ProcessGroup | None) -> torch.Tensor:
    """All ranks' (B, n_r, V) logits -> (B, T, V) in sequence order."""
    most = max(plan.local_len(r) for r in range(plan.world))
    padded = torch.zeros(local.shape[0], most, local.shape[2], dtype=local.dtype, device=local.device)
    padded[:, :local.shape[1]] = local
    parts = [torch.empty_like(padded) for _ in range(plan.world)]
    dist.all_gather(parts, padded, group=group)
    full = torch.empty(local.shape[0], plan.total, local.shape[2], dtype=local.dtype, device=local.device)
    for r, part in enumerate(parts):
        full[:, plan.positions(r).to(local.device)] = part[:, :plan.local_len(r)]
    return full


@torch.inference_mode()
def ring_prefill(model: Transformer, tokens: torch.Tensor, cache: ShardedKVCache | None = None,
                 output: str = "last") -> torch.Tensor:
    """Prefill the whole prompt ``tokens`` (B, T), identical on every rank, with ring attention.

    Each rank embeds and runs only its zigzag positions; with ``cache`` it keeps their KV for `ring_decode`.
    ``output``: "last" -> (B, 1, V) logits of position T-1 on every rank; "all" -> (B, T, V) on every rank;
    "local" -> (B, n_local, V) at ``ZigzagPlan.positions()``.
    """
    group, quant = _ring_of(model)
    if output not in ("last", "all", "local"):
        raise ValueError(f"unknown output {output!r}: choose one of last, all, local")
    B, T = tokens.shape
    if T > model.rope_cos.shape[0]:
        raise ValueError(f"{T} tokens exceed the rope table ({model.rope_cos.shape[0]}): raise max_seq_len")
    device = model.norm.weight.device
    weights = torch.arange(1, T + 1, device=tokens.device) % 65521
    _agree(T * 2**40 + int((tokens.long() * weights).sum()), "the prompt", group, device)
    plan = ZigzagPlan(T, dist.get_world_size(group), dist.get_rank(group))
    idx = plan.positions().to(device)
    x = model.embed(tokens.to(device)[:, idx])  # (B, n_local, dim)
    cos, sin = model.rope_cos[idx], model.rope_sin[idx]  # (n_local, hd)
    ctx = RingPrefill(plan, group, quant, cache)
    for block in model.layers:
        x = block(x, cos, sin, 0, ctx)  # type: ignore[arg-type]
    if cache is not None:
        cache.commit_prefill(plan)
    if output == "last":
        owner, i = plan.owner(T - 1)
        logits = model.lm_head(model.norm(x[:, i:i + 1])) if owner == plan.rank else \
            torch.empty(B, 1, model.config.vocab_size, dtype=x.dtype, device=device)
        dist.broadcast(logits, dist.get_global_rank(group, owner) if group is not None else owner, group=group)
        return logits
    logits = model.lm_head(model.norm(x))  # (B, n_local, V)
    return logits if output == "local" else _gather_logits(logits, plan, group)


@torch.inference_mode()
def ring_decode(model: Transformer, tokens: torch.Tensor, cache: ShardedKVCache) -> torch.Tensor:
    """Logits (B, T, V) of new ``tokens`` (B, T), identical on every rank, appended to the sharded ``cache``."""
    _ring_of(model)
    logits = model(tokens, cache.total, cache)  # type: ignore[arg-type]
    cache.commit(tokens.shape[1])
    return logits


def ring_generate(model: Transformer, prompt: list[int], max_new_tokens: int, *,
                  stop_ids: tuple[int, ...] = ()) -> list[int]:
    """Greedy generation with ring prefill and sharded-KV decode; the same tokens on every rank."""
    group, _ = _ring_of(model)
    world, rank = dist.get_world_size(group), dist.get_rank(group)
    device, dtype = model.norm.weight.device, model.norm.weight.dtype
    plan = ZigzagPlan(len(prompt), world, rank)
    capacity = max(max(plan.local_len(r) for r in range(world)), -(-(len(prompt) + max_new_tokens) // world)) + 1
    cache = ShardedKVCache(model.config, capacity, group, dtype=dtype, device=device)
    logits = ring_prefill(model, torch.tensor([prompt], device=device), cache)
    new: list[int] = []
    while True:
        tok = int(logits[0, -1].argmax())
        new.append(tok)
        if tok in stop_ids or len(new) >= max_new_tokens:
            return new
        logits = ring_decode(model, torch.tensor([[tok]], device=device), cache)
