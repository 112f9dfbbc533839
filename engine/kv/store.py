"""Per-layer KV storage behind a compressed/quantized cache: plain tensors, or quantized codes plus scales.

Both stores are allocated once for ``capacity`` tokens per layer and KV head and keep each layer's own length
(compression policies may keep a different number of tokens in each layer). Tensors handed in and out are
(B, Hkv, n, D) in the compute dtype.
"""

from __future__ import annotations

import torch

from engine.kv.quant import QBlock, QuantFormat, dequantize, quantize


class PlainStore:
    """Keys and values as (n_layers, B, Hkv, capacity, D) tensors in ``dtype`` (e.g. bf16 to halve fp32)."""

    def __init__(self, n_layers: int, batch: int, n_kv: int, capacity: int, head_dim: int, dtype: torch.dtype,
                 compute: torch.dtype, device: str | torch.device) -> None:
        shape = (n_layers, batch, n_kv, capacity, head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        self.n = [0] * n_layers
        self.capacity, self.compute = capacity, compute

    def _check(self, layer: int, extra: int) -> None:
        if self.n[layer] + extra > self.capacity:
            raise ValueError(f"compressed KV store holds {self.capacity} tokens per layer; {self.n[layer] + extra} "
                             "needed: raise the policy's budget headroom or max_new_tokens estimate")

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store ``k, v`` (B, Hkv, T, D) after the layer's tokens; return all of them, (B, Hkv, n + T, D)."""
        self._check(layer, k.shape[2])
        a, b = self.n[layer], self.n[layer] + k.shape[2]
        self.k[layer, :, :, a:b] = k
        self.v[layer, :, :, a:b] = v
        self.n[layer] = b
        return self.read(layer)

    def read(self, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.n[layer]
        return self.k[layer, :, :, :n].to(self.compute), self.v[layer, :, :, :n].to(self.compute)

    def reset(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> None:
        """Replace the layer's contents with ``k, v`` (B, Hkv, m, D)."""
        self.n[layer] = 0
        self.append(layer, k, v)

    def advance(self) -> None:
        """Count one more token in every layer (written in place by a static decode step)."""
        self.n = [n + 1 for n in self.n]

    def used_bytes(self) -> int:
        per_token = 2 * self.k[0, :, :, 0].numel() * self.k.element_size()
        return per_token * sum(self.n)

    def alloc_bytes(self) -> int:
        return self.k.nbytes + self.v.nbytes


class QuantStore:
    """Quantized codes and fp16 scales for the older tokens, the newest ``< residual + group`` in full precision.

    Quantizing happens when tokens are stored; reading dequantizes the layer into the compute dtype (the eager
    path materializes the layer once per step). Int8 per-token storage also decodes with static shapes: the CUDA
    graph's kernels quantize into and read from these buffers directly (``static_int8``, engine/decode_kernel.py).
    """

    def __init__(self, n_layers: int, batch: int, n_kv: int, capacity: int, head_dim: int, fmt: QuantFormat,
                 compute: torch.dtype, device: str | torch.device) -> None:
        if head_dim % 2:
            raise ValueError(f"quantized KV needs an even head_dim, got {head_dim}")
        self.fmt, self.compute, self.capacity = fmt, compute, capacity
        cols = head_dim // 2 if fmt.bits == 4 else head_dim
        code = {"int": torch.uint8 if fmt.bits == 4 else torch.int8, "fp8": torch.float8_e4m3fn}[fmt.kind]
        self.data = [torch.zeros(n_layers, batch, n_kv, capacity, cols, dtype=code, device=device) for _ in "kv"]
        self.params: list[list[torch.Tensor]] = []
        for axis in (fmt.key_axis, fmt.value_axis):
            shape = (n_layers, batch, n_kv, capacity // fmt.group + 1, head_dim) if axis == "channel" else \
                (n_layers, batch, n_kv, capacity, 1)
            self.params.append([torch.zeros(shape, dtype=torch.float16, device=device)
                                for _ in range(2 if fmt.bits == 4 else 1)])
        tail = (n_layers, batch, n_kv, fmt.residual + fmt.flush, head_dim)
        self.tail = [torch.zeros(tail, dtype=compute, device=device) for _ in "kv"]
        self.nq = [0] * n_layers  # quantized tokens (a multiple of fmt.flush)
        self.nt = [0] * n_layers  # full-precision tail tokens

    @property
    def n(self) -> list[int]:
        return [a + b for a, b in zip(self.nq, self.nt, strict=True)]

    def _rows(self, axis: str, a: int, b: int) -> slice:
        g = self.fmt.group if axis == "channel" else 1
        return slice(a // g, b // g)

    def _dequant(self, layer: int, i: int) -> torch.Tensor:
        axis = (self.fmt.key_axis, self.fmt.value_axis)[i]
        n, rows = self.nq[layer], self._rows(axis, 0, self.nq[layer])
        p = self.params[i]
        block = QBlock(self.data[i][layer, :, :, :n], p[0][layer, :, :, rows], p[1][layer, :, :, rows]
                       if len(p) > 1 else None)
        return dequantize(block, self.fmt, axis, self.compute)

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store ``k, v`` (B, Hkv, T, D); return the layer's tokens (B, Hkv, n + T, D), the new ones exact."""
        nq, nt, T = self.nq[layer], self.nt[layer], k.shape[2]
        if nq + nt + T > self.capacity:
            raise ValueError(f"quantized KV store holds {self.capacity} tokens per layer; {nq + nt + T} needed")
        out = []
        flush = self.fmt.flush
        m = 0
        for i, (new, axis) in enumerate(zip((k, v), (self.fmt.key_axis, self.fmt.value_axis), strict=True)):
            fresh = torch.cat([self.tail[i][layer, :, :, :nt], new.to(self.compute)], dim=2)  # (B, Hkv, nt + T, D)
            out.append(torch.cat([self._dequant(layer, i), fresh], dim=2))
            m = max(fresh.shape[2] - self.fmt.residual, 0) // flush * flush  # tokens to quantize now
            if m:
                q = quantize(fresh[:, :, :m], self.fmt, axis)
                self.data[i][layer, :, :, nq:nq + m] = q.data
                rows = self._rows(axis, nq, nq + m)
                self.params[i][0][layer, :, :, rows] = q.scale
                if q.zero is not None:
                    self.params[i][1][layer, :, :, rows] = q.zero
            self.tail[i][layer, :, :, :fresh.shape[2] - m] = fresh[:, :, m:]
        self.nq[layer], self.nt[layer] = nq + m, nt + T - m
        return out[0], out[1]

    def read(self, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        nt = self.nt[layer]
        k, v = (torch.cat([self._dequant(layer, i), self.tail[i][layer, :, :, :nt]], dim=2) for i in range(2))
        return k, v

    def reset(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> None:
        """Replace the layer's contents with ``k, v`` (B, Hkv, m, D) (re-quantized)."""
        self.nq[layer] = self.nt[layer] = 0
        self.append(layer, k, v)

    @property
    def static_int8(self) -> bool:
        """Int8 codes with per-token scales and no full-precision tail: a static decode step can quantize its
        token straight into the buffers (engine/decode_kernel.py ``rope_write_int8``)."""
        f = self.fmt
        return f.kind == "int" and f.bits == 8 and f.key_axis == f.value_axis == "token" and f.residual == 0

    def advance(self) -> None:
        """Count one more quantized token in every layer (written in place by a static decode step)."""
        assert self.static_int8 and not any(self.nt)
        self.nq = [n + 1 for n in self.nq]

    def used_bytes(self) -> int:
        total = 0
        for layer in range(len(self.nq)):
            nq, nt = self.nq[layer], self.nt[layer]
            for i, axis in enumerate((self.fmt.key_axis, self.fmt.value_axis)):
                total += self.data[i][layer, :, :, :nq].nbytes + self.tail[i][layer, :, :, :nt].nbytes
                rows = self._rows(axis, 0, nq)
                total += sum(p[layer, :, :, rows].nbytes for p in self.params[i])
        return total

    def alloc_bytes(self) -> int:
        return sum(t.nbytes for t in [*self.data, *self.tail, *self.params[0], *self.params[1]])
