"""`CompressedKVCache`: a `KVCache` that applies a compression policy and/or quantized storage per request.

`KVSpec` is what a caller hands to ``LLM.generate(kv_policy=...)``: a policy (or None), a KV dtype (a plain dtype
or a quantization format), and it builds the request's cache (``make_cache``). A bare policy is accepted there too:
`KVSpec.of` turns the argument into a spec, once, where a request enters (engine/llm.py, engine/parallel).

The cache receives each layer's queries with its keys and values (``write(..., q=q)``) and applies the policy
lazily: a compression decided after a forward pass is carried out at the layer's next write, so the pass that
decided it attends to the full cache.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from engine.config import ModelConfig
from engine.kv.cache import KVCache, StaticSlot
from engine.kv.policy import Policy, ScoreInputs
from engine.kv.quant import PLAIN_DTYPES, quant_format
from engine.kv.segments import Segment
from engine.kv.store import PlainStore, QuantStore

QUERY_CHUNK = 256  # queries per block when accumulating attention for H2O (bounds the (Hq, Tq, n) temporary)


@dataclass
class KVSpec:
    """Per-request KV choice, passed as ``LLM.generate(..., kv_policy=KVSpec(...))``.

    Parameters
    ----------
    policy : Policy, optional
        Compression policy; None keeps every token.
    dtype : str
        Storage: ``model`` (the compute dtype), ``fp32``, ``bf16``, ``fp16``, or a quantization format of
        `engine.kv.quant.FORMATS` (``int8``, ``int8-channel``, ``fp8``, ``fp8-channel``, ``int4``).
    segments : tuple of Segment
        The prompt's parts (engine/kv/segments.py), for record-aware policies: character spans of a text prompt
        (the engine maps them to tokens), token spans of a prompt given as ids. Token-level policies ignore them.
    """

    policy: Policy | None = None
    dtype: str = "model"
    segments: tuple[Segment, ...] = ()

    def __post_init__(self) -> None:
        if self.policy is not None and not isinstance(self.policy, Policy):
            raise TypeError(f"KVSpec.policy must be an engine.kv Policy (or None), got {type(self.policy).__name__}")
        self.segments = tuple(self.segments)
        if self.dtype not in PLAIN_DTYPES:
            quant_format(self.dtype)  # raises with the list of choices

    @classmethod
    def of(cls, choice: KVSpec | Policy | None) -> KVSpec:
        """The spec of a ``kv_policy`` argument: a `KVSpec` as it is, a bare policy with model-dtype storage,
        None the uncompressed cache in model dtype (``KVSpec()``)."""
        if choice is None:
            return cls()
        if isinstance(choice, KVSpec):
            return choice
        if isinstance(choice, Policy):
            return cls(choice)
        raise TypeError(f"kv_policy must be an engine.kv KVSpec or Policy, got {type(choice).__name__}")

    @property
    def label(self) -> str:
        name = "full" if self.policy is None else self.policy.name
        return f"{name}/{self.dtype}"

    def capacity(self, n_layers: int, prompt_len: int, total: int, chunk: int) -> int:
        """Tokens per layer the cache must hold: everything, unless the policy compresses during prefill."""
        p = self.policy
        if p is None or p.when == "end" or p.may_exceed_budget:
            return total
        top = max(p.layer_budget(total, layer, n_layers) for layer in range(n_layers))
        return min(total, top + chunk + (total - prompt_len) + 1)

    def check_prompt(self, n_layers: int, prompt_len: int, chunk: int, token_segments: tuple[Segment, ...]) -> None:
        """Raise before any work if the policy cannot compress this prompt (bad segments, a budget smaller than
        what is always kept, a record policy that would compress more than once)."""
        p = self.policy
        if p is None:
            return
        if p.needs_segments and p.when == "chunks" and prompt_len > chunk:
            raise ValueError(f"{p.name} compresses once: with when='chunks' the prompt ({prompt_len} tokens) must be "
                             f"prefilled in one chunk (prefill_chunk {chunk}); use when='end'")
        p.check_prompt(prompt_len, n_layers, token_segments)

    def make_cache(self, config: ModelConfig, *, prompt_len: int, total: int, chunk: int, dtype: torch.dtype,
                   device: str | torch.device, batch: int = 1) -> CompressedKVCache:
        """The request's cache for a model ``config`` (n_layers, n_kv_heads, head_dim), holding ``segments`` as
        token spans (a caller with a text prompt sets ``cache.segments`` to their token spans)."""
        cap = self.capacity(config.n_layers, prompt_len, total, chunk)
        cache = CompressedKVCache(self, config.n_layers, config.n_kv_heads, config.head_dim, cap,
                                  prompt_len=prompt_len, batch=batch, dtype=dtype, device=device)
        cache.segments = self.segments
        return cache


class CompressedKVCache(KVCache):
    """Per-layer storage (`PlainStore` or `QuantStore`) plus the policy state: each layer's last queries (the
    observation window) and, for H2O-style policies, the attention each stored token has accumulated."""

    def __init__(self, spec: KVSpec, n_layers: int, n_kv_heads: int, head_dim: int, capacity: int, *,
                 prompt_len: int, batch: int = 1, dtype: torch.dtype = torch.float32,
                 device: str | torch.device = "cpu") -> None:
        super().__init__(n_layers, n_kv_heads, head_dim, 0, batch=batch, dtype=dtype, device=device, policy=spec)
        self.max_len, self.spec, self.prompt_len, self.n_layers = capacity, spec, prompt_len, n_layers
        plain = PLAIN_DTYPES.get(spec.dtype, "quant")
        if plain == "quant":
            self.store: PlainStore | QuantStore = QuantStore(n_layers, batch, n_kv_heads, capacity, head_dim,
                                                             quant_format(spec.dtype), dtype, device)
        else:
            store_dtype = dtype if plain is None else plain
            assert isinstance(store_dtype, torch.dtype)
            self.store = PlainStore(n_layers, batch, n_kv_heads, capacity, head_dim, store_dtype, dtype, device)
        self.queries: list[torch.Tensor | None] = [None] * n_layers  # (B, Hq, <= window, D)
        self.attn_sum: list[torch.Tensor | None] = [None] * n_layers  # (B, Hkv, n)
        self.seen = [0] * n_layers  # tokens written to each layer (logical positions)
        self.pending = [False] * n_layers
        self.evicted = [0] * n_layers
        self.peak_tokens = 0
        self.slots: torch.Tensor | None = None  # (n_layers,) device-side lengths while decoding with static shapes
        self.segments: tuple[Segment, ...] = ()  # the prompt's token spans, for record-aware policies
        self.planned: dict[int, torch.Tensor | None] = {}  # per layer: kept indices chosen for all layers at once

    # -- the one write method -----------------------------------------------------------------------------------
    def write(self, layer: int, start: int | torch.Tensor, k: torch.Tensor, v: torch.Tensor,
              q: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Store ``k, v`` (B, Hkv, T, D) for positions ``[start, start + T)``; ``q`` (B, Hq, T, D) are the queries
        of the same tokens (needed by policies). Returns every stored token of the layer, (B, Hkv, n, D)."""
        if isinstance(start, torch.Tensor):
            raise ValueError("a compressed cache decodes with a device-side position through static_slot() after "
                             "begin_static() (engine/model.py), or eagerly with an int position")
        if self.pending[layer]:
            self._compress(layer)
        k_all, v_all = self.store.append(layer, k, v)
        self.peak_tokens = max(self.peak_tokens, sum(self.store.n))
        end = start + k.shape[2]
        self.seen[layer] = end
        policy = self.spec.policy
        if policy is None:
            return k_all, v_all
        if q is None:
            raise ValueError("a compression policy needs the queries: call cache.write(layer, start, k, v, q=q)")
        keep = max(policy.window, 1)
        prev = self.queries[layer]
        self.queries[layer] = (q if prev is None else torch.cat([prev, q], dim=2))[:, :, -keep:]
        if policy.needs_attn_sum:
            self._accumulate(layer, q, k_all)
        if end < self.prompt_len:
            self.pending[layer] = policy.when in ("chunks", "always")
        elif end == self.prompt_len and start < self.prompt_len:
            self.pending[layer] = policy.when in ("end", "always")
        else:
            self.pending[layer] = policy.when == "always" and k_all.shape[2] > policy.layer_budget(
                end, layer, self.n_layers)
        return k_all, v_all

    def _accumulate(self, layer: int, q: torch.Tensor, keys: torch.Tensor) -> None:
        """Add the attention of queries ``q`` (the last T stored tokens) to each key's running sum."""
        B, Hq, T, D = q.shape
        Hkv, n = keys.shape[1], keys.shape[2]
        acc = self.attn_sum[layer]
        grown = torch.zeros(B, Hkv, n, device=keys.device)
        if acc is not None:
            grown[..., :acc.shape[2]] = acc
        kf = keys.float()[:, :, None]  # (B, Hkv, 1, n, D)
        for a in range(0, T, QUERY_CHUNK):
            qs = q[:, :, a:a + QUERY_CHUNK].float().view(B, Hkv, Hq // Hkv, -1, D)  # (B, Hkv, g, t, D)
            logits = qs @ kf.transpose(-2, -1) / math.sqrt(D)  # (B, Hkv, g, t, n)
            qpos = torch.arange(n - T + a, n - T + a + qs.shape[3], device=q.device)[:, None]
            logits = logits.masked_fill(torch.arange(n, device=q.device)[None, :] > qpos, float("-inf"))
            grown += logits.softmax(-1).sum(dim=(2, 3))
        self.attn_sum[layer] = grown

    def _inputs(self, layer: int) -> ScoreInputs:
        """What the policy sees of ``layer`` now: its stored tokens, last queries, accumulated attention, and the
        prompt's segments while the stored tokens are still the prompt's positions."""
        policy, qbuf = self.spec.policy, self.queries[layer]
        assert policy is not None and qbuf is not None
        k_all, v_all = self.store.read(layer)
        n = k_all.shape[2]
        aligned = self.evicted[layer] == 0 and n == self.seen[layer]  # stored tokens = positions 0..n-1
        segs = tuple(s for s in self.segments if s.start < n) if aligned else None
        return ScoreInputs(k_all, v_all, qbuf[:, :, -max(policy.window, 1):], layer, self.n_layers,
                           self.attn_sum[layer], segments=segs)

    def _compress(self, layer: int) -> None:
        self.pending[layer] = False
        policy = self.spec.policy
        qbuf = self.queries[layer]
        assert policy is not None and qbuf is not None
        inputs = self._inputs(layer)
        k_all, v_all, acc = inputs.keys, inputs.values, inputs.attn_sum
        if policy.plans_layers:  # one choice for every pending layer, from all their scores (engine/kv/records.py)
            if layer not in self.planned:
                pending = [i for i in range(self.n_layers) if self.pending[i] or i == layer]
                plan = policy.keep_indices_layers([self._inputs(i) for i in pending], self.seen[layer])
                self.planned = dict(zip(pending, plan, strict=True))
            idx = self.planned.pop(layer)
        else:
            idx = policy.keep_indices(inputs, self.seen[layer])  # (B, Hkv, k) ascending
        if idx is None:
            return
        gidx = idx[..., None].expand(-1, -1, -1, k_all.shape[-1])
        self.store.reset(layer, k_all.gather(2, gidx), v_all.gather(2, gidx))
        if acc is not None:
            self.attn_sum[layer] = acc.gather(2, idx)
        kept = idx.shape[2]
        r = min(policy.recent(kept), qbuf.shape[2])  # window queries whose tokens are still the last stored
        self.queries[layer] = qbuf[:, :, qbuf.shape[2] - max(r, 1):]
        self.evicted[layer] += k_all.shape[2] - kept

    # -- static-shape decode (CUDA graphs) ------------------------------------------------------------------------
    def static_ready(self) -> bool:
        """Whether decode can run with static shapes: plain storage in the compute dtype, or int8 codes with
        per-token scales, and a policy that never evicts during decode, so after the prompt each step writes one
        token into every layer's fixed buffers."""
        p = self.spec.policy
        store = self.store
        fixed = store.k.dtype == store.compute if isinstance(store, PlainStore) else store.static_int8
        return fixed and (p is None or (p.when != "always" and not p.needs_attn_sum))

    def begin_static(self) -> None:
        """Carry out pending compressions and put each layer's length on the device (call after the prompt)."""
        if not self.static_ready():
            raise ValueError("this cache cannot decode with static shapes (quantized storage other than int8 per "
                             "token, or a policy that evicts during decode): decode it eagerly")
        self.flush()
        device = self.store.k.device if isinstance(self.store, PlainStore) else self.store.data[0].device
        self.slots = torch.tensor(self.store.n, dtype=torch.long, device=device)

    def static_slot(self, layer: int, start: torch.Tensor) -> StaticSlot:
        """The layer's whole buffers (B, Hkv, capacity, D) and its device-side length as this token's slot: a
        compressed layer holds fewer tokens than the position, so the slot is not ``start``."""
        if self.slots is None:
            raise ValueError("a compressed cache decodes with a device-side position only after begin_static(); "
                             "or decode it eagerly (an int position)")
        pos = self.slots[layer:layer + 1]
        store = self.store
        if isinstance(store, PlainStore):
            return StaticSlot(store.k[layer], store.v[layer], pos)
        return StaticSlot(store.data[0][layer], store.data[1][layer], pos, store.params[0][0][layer],
                          store.params[1][0][layer])

    def check_room(self) -> None:
        """Raise before a static step that would write past the buffers (the device would not check)."""
        if max(self.store.n) >= self.store.capacity:
            raise ValueError(f"compressed KV store holds {self.store.capacity} tokens per layer; a static decode "
                             "step needs one more: raise the policy's budget headroom or max_new_tokens estimate")

    def advance(self) -> None:
        """After a static step: every layer holds one more token (device lengths and the host's count)."""
        assert self.slots is not None
        self.slots += 1
        self.store.advance()
        self.peak_tokens = max(self.peak_tokens, sum(self.store.n))

    # -- reporting ----------------------------------------------------------------------------------------------
    def flush(self) -> None:
        """Carry out every pending compression now (e.g. before reporting bytes)."""
        for layer in range(self.n_layers):
            if self.pending[layer]:
                self._compress(layer)

    @property
    def nbytes(self) -> int:
        return self.store.alloc_bytes()

    def used_bytes(self, length: int | None = None) -> int:
        """Bytes the stored tokens occupy now (codes, scales and full-precision parts); ``length`` is ignored."""
        return self.store.used_bytes()

    def stats(self) -> dict[str, Any]:
        """What the request's KV cache cost: stored and allocated bytes, tokens kept per layer (mean), evictions."""
        self.flush()
        n = self.store.n
        return {"kv_dtype": self.spec.dtype, "policy": self.spec.policy.name if self.spec.policy else "full",
                "kv_bytes": self.store.used_bytes(), "kv_alloc_bytes": self.store.alloc_bytes(),
                "kv_tokens_mean": sum(n) / len(n), "kv_tokens_min": min(n), "kv_tokens_max": max(n),
                "kv_peak_tokens_mean": self.peak_tokens / len(n), "evicted_mean": sum(self.evicted) / len(n)}

    def copy_prefix_from(self, other: KVCache, length: int) -> None:
        raise ValueError("a compressed KV cache cannot share a prefix: run the request without prefix reuse")
