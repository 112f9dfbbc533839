"""KV quantization: INT8 / FP8 with per-token or per-channel scales, and 4-bit KIVI-style.

KIVI: Liu et al., "KIVI: A Tuning-Free Asymmetric 2bit Quantization for KV Cache", ICML 2024 (arXiv:2402.02750):
keys are quantized per channel (outlier channels get their own scale) in groups of ``group`` tokens, values per
token, and the most recent ``residual`` tokens stay in full precision until a whole group can be quantized.
INT8 and FP8 (E4M3, as in vLLM / TensorRT-LLM FP8 KV caches) are symmetric absmax; 4-bit is asymmetric (min/max),
two codes packed per byte. Scales and zero points are stored in fp16. The layouts themselves (bits, scale axes,
groups, full-precision tail) are `engine.kv.formats.FORMATS`, the torch-free table the planner also reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.kv.formats import FORMATS, QuantFormat

PLAIN_DTYPES: dict[str, torch.dtype | None] = {"model": None, "fp32": torch.float32, "bf16": torch.bfloat16,
                                               "fp16": torch.float16}
FP8_MAX = 448.0  # largest finite float8_e4m3fn


def quant_format(name: str) -> QuantFormat:
    if name not in FORMATS:
        raise ValueError(f"unknown KV quantization {name!r}: choose one of {', '.join(FORMATS)} "
                         f"(or a plain dtype: {', '.join(PLAIN_DTYPES)})")
    return FORMATS[name]


@dataclass
class QBlock:
    """A quantized block of T tokens. ``data``: (B, H, T, D) int8 / float8, or (B, H, T, D/2) uint8 for 4-bit;
    ``scale`` (and ``zero`` for 4-bit): (B, H, T, 1) per token or (B, H, T / group, D) per channel, fp16."""

    data: torch.Tensor
    scale: torch.Tensor
    zero: torch.Tensor | None = None


def quantize(x: torch.Tensor, fmt: QuantFormat, axis: str) -> QBlock:
    """Quantize a block of keys or values.

    Parameters
    ----------
    x : torch.Tensor
        (B, H, T, D); with ``axis="channel"`` T must be a multiple of ``fmt.group``.
    fmt : QuantFormat
        Bits, kind and group size.
    axis : str
        ``"token"`` (one scale per token and head) or ``"channel"`` (one per channel per group of tokens).

    Returns
    -------
    QBlock
        Codes and fp16 scales (and zero points for 4-bit); `dequantize` inverts it within half a step.
    """
    B, H, T, D = x.shape
    xf = x.float()
    if axis == "channel":
        if T % fmt.group:
            raise ValueError(f"per-channel quantization needs whole groups of {fmt.group} tokens, got {T}")
        xf, dim = xf.view(B, H, T // fmt.group, fmt.group, D), 3  # (B, H, T/G, G, D), reduce over G
    else:
        dim = -1  # reduce over D
    zero = None
    if fmt.bits == 4:
        lo, hi = xf.amin(dim, keepdim=True), xf.amax(dim, keepdim=True)
        scale = ((hi - lo) / 15).clamp_min(2.0**-14).half()  # fp16 normal range: no subnormal scales
        zero = lo.half()
        codes = ((xf - zero.float()) / scale.float()).round_().clamp_(0, 15).to(torch.uint8).view(B, H, T, D)
        data = codes[..., 0::2] | (codes[..., 1::2] << 4)  # (B, H, T, D/2)
    else:
        top = 127.0 if fmt.kind == "int" else FP8_MAX
        scale = (xf.abs().amax(dim, keepdim=True) / top).clamp_min(2.0**-14).half()
        y = xf / scale.float()
        if fmt.kind == "int":
            data = y.round_().clamp_(-127, 127).to(torch.int8).view(B, H, T, D)
        else:
            data = y.clamp_(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn).view(B, H, T, D)
    if axis == "channel":
        scale = scale.squeeze(dim)  # (B, H, T/G, D)
        zero = zero.squeeze(dim) if zero is not None else None
    return QBlock(data, scale, zero)


def dequantize(q: QBlock, fmt: QuantFormat, axis: str, dtype: torch.dtype) -> torch.Tensor:
    """Inverse of `quantize`: (B, H, T, D) in ``dtype``."""
    if fmt.bits == 4:
        codes = torch.stack((q.data & 15, q.data >> 4), dim=-1).flatten(-2).float()  # (B, H, T, D)
    else:
        codes = q.data.float()
    B, H, T, D = codes.shape
    scale = q.scale.float()
    zero = q.zero.float() if q.zero is not None else None
    if T == 0:
        return codes.to(dtype)
    if axis == "channel":  # broadcast one scale row over each group of tokens
        g = T // scale.shape[2]
        scale = scale.repeat_interleave(g, dim=2)
        zero = zero.repeat_interleave(g, dim=2) if zero is not None else None
    out = codes * scale
    if zero is not None:
        out = out + zero
    return out.to(dtype)


def write_int8_slot(codes: torch.Tensor, scales: torch.Tensor, index: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Quantize one token ``x`` (B, H, 1, D) into int8 ``codes`` (B, H, T, D) and ``scales`` (B, H, T, 1) at the
    device-side ``index``; return the buffer dequantized in ``x``'s dtype with the token itself unquantized (what
    the eager store attends to). The torch-ops form of engine/decode_kernel.py's int8 step."""
    q = quantize(x, FORMATS["int8"], "token")
    codes.index_copy_(2, index, q.data)
    scales.index_copy_(2, index, q.scale)
    full = (codes.float() * scales.float()).to(x.dtype)
    return full.index_copy_(2, index, x)
