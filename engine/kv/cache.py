"""A preallocated KV cache: one tensor for keys and one for values, sliced per layer, one `write` method."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import torch

if TYPE_CHECKING:
    from engine.kv.compressed import KVSpec


class StaticSlot(NamedTuple):
    """Where a static-shape decode step (CUDA graphs) writes its token and what it attends over.

    ``k``, ``v``: the layer's whole buffers (B, Hkv, capacity, D), in the compute dtype or int8 codes; ``pos``:
    the token's slot, a 1-element device tensor (keys after it are masked); ``k_scale``, ``v_scale``: the int8
    codes' per-token scales (B, Hkv, capacity, 1) fp16, None for plain buffers.
    """

    k: torch.Tensor
    v: torch.Tensor
    pos: torch.Tensor
    k_scale: torch.Tensor | None = None
    v_scale: torch.Tensor | None = None


class KVCache:
    """Keys and values of every layer, allocated once for ``max_len`` positions.

    Storage: ``k``, ``v`` of shape (n_layers, B, n_kv_heads, max_len, head_dim). `write` stores a block at
    ``start`` and returns the views ``[0, start + T)`` that attention reads, so decoding never copies the history.

    ``policy`` is the request's `KVSpec` when a compressing or quantizing cache (engine/kv/compressed.py) is built
    on this class; None for the plain cache. This class keeps it and does not interpret it.
    """

    def __init__(self, n_layers: int, n_kv_heads: int, head_dim: int, max_len: int, *, batch: int = 1,
                 dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu",
                 policy: KVSpec | None = None) -> None:
        shape = (n_layers, batch, n_kv_heads, max_len, head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        self.max_len = max_len
        self.length = 0  # positions filled (valid for every layer after a full forward)
        self.policy = policy

    @staticmethod
    def bytes_needed(n_layers: int, n_kv_heads: int, head_dim: int, max_len: int, *, batch: int = 1,
                     dtype: torch.dtype = torch.float32) -> int:
        """Bytes a cache of this shape occupies (keys and values)."""
        itemsize = torch.empty((), dtype=dtype).element_size()
        return 2 * n_layers * batch * n_kv_heads * max_len * head_dim * itemsize

    @property
    def nbytes(self) -> int:
        return self.k.nbytes + self.v.nbytes

    def used_bytes(self, length: int | None = None) -> int:
        """Bytes holding the first ``length`` positions (default: the filled ones)."""
        n = self.length if length is None else length
        return self.nbytes * n // self.max_len

    def write(self, layer: int, start: int | torch.Tensor, k: torch.Tensor, v: torch.Tensor,
              q: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Store ``k, v`` (B, Hkv, T, D) at positions ``[start, start + T)`` of ``layer``.

        ``q`` (B, H, T, D), the same tokens' queries, is for compressing caches (engine/kv/compressed.py); ignored here.

        Returns the layer's keys and values for positions ``[0, start + T)``, each (B, Hkv, start + T, D). A tensor
        ``start`` (one token at a device-side position: CUDA-graph decode) writes without a host sync and returns the
        whole cache, (B, Hkv, max_len, D); the caller masks the positions after ``start``.
        """
        if isinstance(start, torch.Tensor):
            slot = self.static_slot(layer, start)
            slot.k.index_copy_(2, slot.pos, k)
            slot.v.index_copy_(2, slot.pos, v)
            return slot.k, slot.v
        end = start + k.shape[2]
        if end > self.max_len:
            raise ValueError(f"KV cache holds {self.max_len} positions; writing up to {end}: raise max_seq_len")
        self.k[layer, :, :, start:end] = k
        self.v[layer, :, :, start:end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def static_slot(self, layer: int, start: torch.Tensor) -> StaticSlot:
        """Device-side decode (static shapes, CUDA graphs): the layer's whole buffers and the slot of this step's
        token, here the position ``start`` itself. The caller writes the token there and masks later keys."""
        return StaticSlot(self.k[layer], self.v[layer], start.view(1))

    def copy_prefix_from(self, other: KVCache, length: int) -> None:
        """Copy the first ``length`` positions of every layer from ``other`` (prefix-cache reuse)."""
        self.k[:, :, :, :length] = other.k[:, :, :, :length]
        self.v[:, :, :, :length] = other.v[:, :, :, :length]
        self.length = length
