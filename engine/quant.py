"""Weight-only quantization on the CPU, applied to a loaded model as a transform (`quantize_model`).

Formats are GGUF's block layouts (engine/csrc/simd.h), so a GGUF's own bytes and ours agree:

- ``int8``: Q8_0, 32 weights per block with one fp16 scale (8.5 bits a weight);
- ``q4``: Q4_1, 32 four-bit codes per block with an fp16 scale and minimum (5 bits a weight); the LM head stays Q8_0
  (as in the bundled GGUF), the embedding table stays fp32 (one row is read per token);
- ``fp32``: no transform, the parity reference.

`QuantLinear` keeps only the blocks: a few rows (decode) go through the AVX2 kernel, which quantizes the activations
to int8 blocks as llama.cpp does; many rows (prefill) dequantize the weight once per call and use the fp32 matmul.
The quantize/dequantize functions here are plain torch and serve as the kernels' reference in the tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from engine.model import Block, Transformer

QK = 32  # weights per block
FORMATS = {"q8_0": 0, "q4_1": 1}  # the kernels' format codes
WEIGHTS = {"fp32": None, "int8": "q8_0", "q4": "q4_1"}  # LLM.load(weights=...) -> block format of the layers
HEAD_FORMAT = "q8_0"
DECODE_ROWS = 16  # inputs with at most this many rows use the GEMV kernel


def check_weights(weights: str) -> str | None:
    """The block format for a ``weights=`` option; a clear error for unknown options."""
    if weights not in WEIGHTS:
        raise ValueError(f"unknown weights {weights!r}: choose one of {', '.join(WEIGHTS)}")
    return WEIGHTS[weights]


def quantize(w: torch.Tensor, fmt: str) -> torch.Tensor:
    """GGUF blocks (N, K / 32 * bytes_per_block) uint8 of a (N, K) weight, K a multiple of 32."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown block format {fmt!r}: supported are {', '.join(FORMATS)}")
    n, k = w.shape
    if k % QK:
        raise ValueError(f"a weight of {k} columns cannot be cut into blocks of {QK}: keep weights='fp32'")
    b = w.detach().float().reshape(n, k // QK, QK)  # (N, nb, 32)
    if fmt == "q8_0":
        d = (b.abs().amax(-1, keepdim=True) / 127).half()  # (N, nb, 1)
        inv = torch.where(d > 0, 1.0 / d.float(), torch.zeros_like(d, dtype=torch.float32))
        q = torch.round(b * inv).clamp(-127, 127).to(torch.int8)
        return torch.cat([d.view(torch.uint8), q.view(torch.uint8)], dim=-1).reshape(n, -1)
    lo, hi = b.amin(-1, keepdim=True), b.amax(-1, keepdim=True)
    d, m = ((hi - lo) / 15).half(), lo.half()
    inv = torch.where(d > 0, 1.0 / d.float(), torch.zeros_like(d, dtype=torch.float32))
    q = torch.round((b - m.float()) * inv).clamp(0, 15).to(torch.uint8)  # (N, nb, 32)
    packed = q[..., :16] | (q[..., 16:] << 4)  # low nibbles: elements 0-15, high: 16-31
    return torch.cat([d.view(torch.uint8), m.view(torch.uint8), packed], dim=-1).reshape(n, -1)


def dequantize(blocks: torch.Tensor, fmt: str) -> torch.Tensor:
    """The (N, K) fp32 weight that ``blocks`` encode (reference implementation)."""
    n = blocks.shape[0]
    if fmt == "q8_0":
        b = blocks.reshape(n, -1, 34)
        d = b[..., :2].contiguous().view(torch.float16).float()  # (N, nb, 1)
        return (d * b[..., 2:].contiguous().view(torch.int8).float()).reshape(n, -1)
    if fmt == "q4_1":
        b = blocks.reshape(n, -1, 20)
        d = b[..., 0:2].contiguous().view(torch.float16).float()
        m = b[..., 2:4].contiguous().view(torch.float16).float()
        q = torch.cat([b[..., 4:] & 0x0F, b[..., 4:] >> 4], dim=-1).float()  # (N, nb, 32)
        return (d * q + m).reshape(n, -1)
    raise ValueError(f"unknown block format {fmt!r}: supported are {', '.join(FORMATS)}")


class QuantLinear(nn.Module):
    """``y = x W^T (+ b)`` with W held as GGUF blocks ``blocks`` (out_features, K / 32 * bytes_per_block) uint8."""

    def __init__(self, blocks: torch.Tensor, fmt: str, in_features: int, bias: torch.Tensor | None = None) -> None:
        super().__init__()
        self.fmt, self.code, self.in_features, self.out_features = fmt, FORMATS[fmt], in_features, blocks.shape[0]
        self.blocks: torch.Tensor
        self.register_buffer("blocks", blocks.contiguous())
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)

    @classmethod
    def of(cls, linear: nn.Linear, fmt: str) -> QuantLinear:
        return cls(quantize(linear.weight, fmt), fmt, linear.in_features, linear.bias)

    def weight_fp32(self) -> torch.Tensor:
        """The dequantized (out_features, in_features) weight (prefill, references)."""
        from engine.cpu_kernels import kernels

        return kernels().dequantize(self.blocks, self.code)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (..., in_features) -> (..., out_features) in ``x``'s dtype."""
        from engine.cpu_kernels import kernels

        rows = x.reshape(-1, self.in_features)
        if rows.shape[0] <= DECODE_ROWS:
            y = kernels().gemv(rows.float(), self.blocks, self.code).to(x.dtype)
            y = y if self.bias is None else y + self.bias
        else:
            y = F.linear(rows, self.weight_fp32().to(x.dtype), self.bias)
        return y.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, fmt={self.fmt}"


def quantize_model(model: Transformer, weights: str) -> Transformer:
    """Replace the model's block projections (wqkv, wo, w13, w2) with ``weights``-format `QuantLinear` and the LM head
    with Q8_0, in place; ``"fp32"`` leaves it as is. Needs a CPU model (the kernels are AVX2)."""
    fmt = check_weights(weights)
    if fmt is None:
        return model
    devices = {p.device.type for p in model.parameters()}
    if devices != {"cpu"}:
        raise ValueError(f"weights={weights!r} is a CPU format: load on the CPU, or use weights='fp32' on "
                         f"{', '.join(sorted(devices))}")
    from engine.cpu_kernels import kernels

    try:
        kernels()  # build (or find) the kernels first: a machine that cannot run them fails here, before any work
    except RuntimeError as exc:
        raise ValueError(f"weights={weights!r} cannot run on this machine ({exc}); weights formats: "
                         f"{', '.join(WEIGHTS)}, of which only fp32 runs without the kernels") from exc
    for layer in model.layers:
        block = cast("Block", layer)
        for owner, name in ((block.attn, "wqkv"), (block.attn, "wo"), (block.mlp, "w13"), (block.mlp, "w2")):
            setattr(owner, name, QuantLinear.of(getattr(owner, name), fmt))
    model.lm_head = QuantLinear.of(model.lm_head, HEAD_FORMAT)  # type: ignore[assignment]
    model.weights = weights
    return model
