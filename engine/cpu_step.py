"""`FusedCPUStep`: one decode step of a quantized model as a single call into the CPU kernels (engine/csrc/step.cpp),
so a token costs one Python call instead of ~20 torch ops per layer. `LLM` uses it for a plain fp16 KV cache on the
CPU when the model's projections are `QuantLinear` (weights="int8" or "q4"); anything else decodes eagerly."""

from __future__ import annotations

from typing import cast

import torch

from engine.kv.cache import KVCache
from engine.model import Block, Transformer
from engine.quant import QuantLinear


def fused_step_supported(model: Transformer, cache: KVCache) -> bool:
    """True when ``model`` and ``cache`` have the shapes and formats `FusedCPUStep` handles."""
    cfg = model.config
    blocks = list(model.layers)
    linears = [m for b in blocks for m in (b.attn.wqkv, b.attn.wo, b.mlp.w13, b.mlp.w2)]  # type: ignore[union-attr]
    return (cache.policy is None and cache.k.device.type == "cpu" and cache.k.dtype == torch.float16
            and cache.k.shape[1] == 1 and cache.k.is_contiguous() and cache.v.is_contiguous()
            and isinstance(model.lm_head, QuantLinear) and all(isinstance(m, QuantLinear) for m in linears)
            and len({m.fmt for m in linears}) == 1 and cfg.head_dim % 8 == 0 and cfg.dim % 32 == 0
            and model.embed.weight.dtype == torch.float32)


def _quant(m: object) -> QuantLinear:
    assert isinstance(m, QuantLinear)
    return m


class FusedCPUStep:
    """``step(token (1,), pos) -> logits (1, vocab)``: writes the token's K, V (fp16) at ``pos`` of every layer of
    ``cache`` and attends over positions ``[0, pos]``."""

    def __init__(self, model: Transformer, cache: KVCache) -> None:
        from engine.cpu_kernels import kernels

        if not fused_step_supported(model, cache):
            raise ValueError("the fused CPU step needs QuantLinear projections and a plain fp16 CPU KV cache")
        self.model, self.cache, self.kernels = model, cache, kernels()
        self.layers: list[torch.Tensor] = []
        for block in model.layers:
            b = cast(Block, block)
            wqkv = _quant(b.attn.wqkv)
            bias = wqkv.bias if wqkv.bias is not None else torch.empty(0)
            self.layers += [b.attn_norm.weight, wqkv.blocks, bias, _quant(b.attn.wo).blocks, b.mlp_norm.weight,
                            _quant(b.mlp.w13).blocks, _quant(b.mlp.w2).blocks]
        head = _quant(model.lm_head)
        self.head: torch.Tensor = head.blocks
        self.head_code: int = head.code
        self.code: int = _quant(cast(Block, model.layers[0]).attn.wqkv).code
        cfg = model.config
        self.shape: tuple[int, int, float] = (cfg.n_heads, cfg.n_kv_heads, cfg.norm_eps)

    def __call__(self, tok: torch.Tensor, pos: int) -> torch.Tensor:
        m = self.model
        h, hkv, eps = self.shape
        return self.kernels.decode_step(int(tok.view(-1)[0]), pos, m.embed.weight, self.layers, self.cache.k,
                                        self.cache.v, m.rope_cos[pos], m.rope_sin[pos], m.norm.weight, self.head,
                                        self.code, self.head_code, h, hkv, eps)
