"""A Llama-family decoder (Llama 2/3, Mistral, Qwen2, SmolLM2), single device, written as the math.

x = embed(tokens)
for each block:   x = x + attn(rmsnorm(x));   x = x + mlp(rmsnorm(x))
logits = lm_head(rmsnorm(x))

Parallelism, KV compression and quantization are applied from outside (transforms, cache policies).
Parameter names: ``attn.wqkv`` fuses q, k, v rows (in that order); ``mlp.w13`` fuses gate and up rows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.attention import attend, decode_kernels
from engine.config import ModelConfig
from engine.kv.cache import KVCache
from engine.kv.paged import PagedBatch
from engine.kv.quant import write_int8_slot
from engine.rope import apply_rotary, rope_cos_sin, rope_frequencies


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_cuda:  # one fused kernel (fp32 accumulation) instead of eight elementwise passes
            return F.rms_norm(x, self.weight.shape, self.weight, self.eps)
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


class Attention(nn.Module):
    """Grouped-query attention with rotary positions; reads and writes the KV cache through ``cache.write``."""

    def __init__(self, cfg: ModelConfig, layer: int) -> None:
        super().__init__()
        self.layer, self.n_heads, self.n_kv, self.hd = layer, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        self.q_dim, self.kv_dim = cfg.n_heads * cfg.head_dim, cfg.n_kv_heads * cfg.head_dim
        self.wqkv = nn.Linear(cfg.dim, self.q_dim + 2 * self.kv_dim, bias=cfg.qkv_bias)
        self.wo = nn.Linear(self.q_dim, cfg.dim, bias=False)
        self.backend = "auto"

    def project(self, x: torch.Tensor, cos: torch.Tensor,
                sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries (B, H, T, hd) and keys, values (B, Hkv, T, hd) of ``x`` (B, T, dim), rotary applied."""
        B, T, _ = x.shape
        qk, v = self.wqkv(x).split([self.q_dim + self.kv_dim, self.kv_dim], dim=-1)
        qk = qk.view(B, T, self.n_heads + self.n_kv, self.hd).transpose(1, 2)  # (B, H + Hkv, T, hd)
        qk = apply_rotary(qk, cos, sin)  # queries and keys rotated in one pass
        v = v.view(B, T, self.n_kv, self.hd).transpose(1, 2)  # (B, Hkv, T, hd)
        return qk[:, : self.n_heads], qk[:, self.n_heads :], v

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, start: int | torch.Tensor,
                cache: KVCache | PagedBatch | None) -> torch.Tensor:
        B, T, _ = x.shape
        if isinstance(cache, PagedBatch):  # a flat row of many sequences' tokens over the block pool
            q, k, v = self.project(x, cos, sin)
            y = cache.attend(self.layer, q, k, v, self.backend)  # (1, H, N, hd)
            return self.wo(y.transpose(1, 2).reshape(B, T, self.q_dim))
        if isinstance(start, torch.Tensor):  # static decode: one token into a device-side slot, later keys masked
            assert cache is not None and T == 1
            return self.wo(self._static_step(x, cos, sin, start, cache).reshape(B, 1, self.q_dim))
        q, k, v = self.project(x, cos, sin)
        if cache is not None:
            k, v = cache.write(self.layer, start, k, v, q=q)  # (B, Hkv, n, hd); n = start + T unless compressed
        # the new tokens are the last T keys returned (fewer than start + T if the cache is compressed)
        if k.dtype != q.dtype:  # a cache stored narrower than the compute dtype (fp16 KV beside fp32 weights)
            k, v = k.to(q.dtype), v.to(q.dtype)
        q_offset = start if cache is None else k.shape[2] - T
        y = attend(q, k, v, q_offset, self.backend)  # (B, H, T, hd)
        return self.wo(y.transpose(1, 2).reshape(B, T, self.q_dim))

    def _static_step(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, start: torch.Tensor,
                     cache: KVCache) -> torch.Tensor:
        """Attention output (B, H, 1, hd) of one token at device-side position ``start``; its K and V go into the
        cache's slot for this layer (``cache.static_slot``: the position, or a compressed layer's length; int8
        codes where the cache quantizes)."""
        slot = cache.static_slot(self.layer, start)
        kernels = decode_kernels(x) if self.backend == "auto" else None
        if kernels is not None and not kernels.supports(self.n_heads, self.n_kv, self.hd):
            kernels = None
        scale, ks, vs = self.hd**-0.5, slot.k_scale, slot.v_scale
        if ks is not None and vs is not None:  # int8 codes, one scale per token
            if kernels is not None:
                q, k_cur, v_cur = kernels.rope_write_int8(self.wqkv(x), cos, sin, slot.pos, slot.k, slot.v, ks, vs,
                                                          self.n_heads)
                return kernels.decode_attention(q, slot.k, slot.v, scale, slot.pos, ks, vs, k_cur, v_cur)
            q, k, v = self.project(x, cos, sin)
            k_all, v_all = write_int8_slot(slot.k, ks, slot.pos, k), write_int8_slot(slot.v, vs, slot.pos, v)
            return attend(q, k_all, v_all, slot.pos, self.backend)
        if kernels is not None and slot.k.dtype == x.dtype:
            q = kernels.rope_write(self.wqkv(x), cos, sin, slot.pos, slot.k, slot.v, self.n_heads)  # rotate, write
            return kernels.decode_attention(q, slot.k, slot.v, scale, slot.pos)  # split-KV, then merge
        q, k, v = self.project(x, cos, sin)
        slot.k.index_copy_(2, slot.pos, k.to(slot.k.dtype))
        slot.v.index_copy_(2, slot.pos, v.to(slot.v.dtype))
        return attend(q, slot.k, slot.v, slot.pos, self.backend)


class MLP(nn.Module):
    """SwiGLU: down(silu(gate(x)) * up(x))."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.ffn_dim = cfg.ffn_dim
        self.w13 = nn.Linear(cfg.dim, 2 * cfg.ffn_dim, bias=False)
        self.w2 = nn.Linear(cfg.ffn_dim, cfg.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.w13(x).split(self.ffn_dim, dim=-1)
        return self.w2(F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attn = Attention(cfg, layer)
        self.mlp_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, start: int | torch.Tensor,
                cache: KVCache | PagedBatch | None) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), cos, sin, start, cache)
        return x + self.mlp(self.mlp_norm(x))


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.config = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.layers = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        self.weights = "fp32"  # the projections' storage: engine/quant.py's quantize_model changes it
        self.rope_cos: torch.Tensor
        self.rope_sin: torch.Tensor
        self.register_buffer("rope_cos", torch.empty(0), persistent=False)
        self.register_buffer("rope_sin", torch.empty(0), persistent=False)

    def setup_rope(self, max_len: int | None = None) -> None:
        """(Re)build the cos/sin tables for ``max_len`` positions on the model's device and dtype."""
        cfg = self.config
        n = max_len or cfg.max_seq_len
        inv_freq, scale = rope_frequencies(cfg.head_dim, cfg.rope_theta, cfg.rope_scaling, cfg.max_seq_len, n)
        cos, sin = rope_cos_sin(inv_freq, scale, n)  # (n, hd)
        ref = self.norm.weight
        self.rope_cos, self.rope_sin = cos.to(ref.device, ref.dtype), sin.to(ref.device, ref.dtype)

    def set_attention_backend(self, backend: str) -> None:
        for block in self.layers:
            block.attn.backend = backend  # type: ignore[union-attr]

    def forward(self, tokens: torch.Tensor, start: int | torch.Tensor = 0, cache: KVCache | PagedBatch | None = None,
                last_only: bool = False) -> torch.Tensor:
        """Logits (B, T, vocab), or (B, 1, vocab) with ``last_only``, for ``tokens`` (B, T) at positions start...

        With a ``cache`` the block attends to the cached positions ``[0, start)`` and is written into it. A tensor
        ``start`` (one token, a device-side position) keeps every shape static for CUDA-graph decode.

        With a `PagedBatch` ``tokens`` (1, N) are many sequences' new tokens in a row at ``cache.positions``
        (``start`` unused); ``last_only`` then gives each sequence's last row, (1, B, vocab).
        """
        T = tokens.shape[1]
        if isinstance(cache, PagedBatch):
            cos, sin = self.rope_cos.index_select(0, cache.positions), self.rope_sin.index_select(0, cache.positions)
        elif isinstance(start, torch.Tensor):
            assert T == 1 and cache is not None, "a tensor position serves single-token decode with a cache"
            cos, sin = self.rope_cos.index_select(0, start.view(1)), self.rope_sin.index_select(0, start.view(1))
        elif start + T > self.rope_cos.shape[0]:
            raise ValueError(f"positions up to {start + T} exceed the rope table ({self.rope_cos.shape[0]}): "
                             "raise max_seq_len")
        else:
            cos, sin = self.rope_cos[start:start + T], self.rope_sin[start:start + T]  # (T, hd)
        x = self.embed(tokens)  # (B, T, dim)
        for block in self.layers:
            x = block(x, cos, sin, start, cache)
        if last_only:
            x = x[:, cache.last] if isinstance(cache, PagedBatch) else x[:, -1:]
        return self.lm_head(self.norm(x))
