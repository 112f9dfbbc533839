"""KV compression and quantization eval: passkey needles (or domain lookups, eval/kv/domain.py) per policy x ratio
x KV dtype, and decode speed.

Each needle's context is prefilled once into a recording cache (keeps every token, records the last queries and
H2O's accumulated attention); every configuration then forks that cache, so all rows see the same prefill:
- question inside: the question is prefilled too, then the policy compresses (its window holds the question);
- question outside: the policy compresses the context, then the question is prefilled against the compressed
  cache (as kvpress compresses the context and appends the question).
Quantized rows re-store the prefilled tokens in the format (real storage, dequantized on read).
Accuracy: ``Needle.correct`` (passkey: the key appears in the greedy answer; domain: ``is_correct``); agreement:
the answer's gist equals the full-cache one's.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from engine.kv import H2O, KVSpec, Policy, Segment, make_policy, parse_kv_spec
from engine.kv.compressed import CompressedKVCache
from engine.kv.quant import PLAIN_DTYPES, quant_format
from engine.kv.store import PlainStore, QuantStore
from engine.llm import LLM
from eval.kv.report import Row, headline
from eval.kv.tasks import Needle, needles

__all__ = ["decode_speed", "fork", "headline", "parse_configs", "run"]

POLICIES = ("streamingllm", "h2o", "snapkv", "pyramidkv", "adakv")
OUTSIDE = ("streamingllm", "snapkv", "h2o")  # the ones kvpress has (H2O ~ its ObservedAttention press)
DTYPES = ("bf16", "int8", "int8-channel", "fp8", "int4")
RATIOS = (2.0, 4.0, 8.0)


@torch.inference_mode()
def _forward(llm: LLM, ids: list[int], start: int, cache: CompressedKVCache) -> torch.Tensor:
    tokens = torch.tensor([ids], device=llm.device)
    logits = torch.empty(0)
    for a in range(0, len(ids), llm.prefill_chunk):
        logits = llm.model(tokens[:, a:a + llm.prefill_chunk], start + a, cache, last_only=True)[:, -1]
    return logits


@torch.inference_mode()
def _decode(llm: LLM, cache: CompressedKVCache, logits: torch.Tensor, pos: int, n: int,
            stop: int | None = None) -> tuple[list[int], float]:
    """Greedy tokens from ``logits`` (up to ``n``, ending at ``stop``); seconds spent in the steps after the first
    (the per-token decode cost)."""
    out = [int(logits.argmax(-1))]
    t0 = time.perf_counter()
    for i in range(n - 1):
        if out[-1] == stop:
            break
        logits = llm.model(torch.tensor([[out[-1]]], device=llm.device), pos + i, cache, last_only=True)[:, -1]
        out.append(int(logits.argmax(-1)))
    if llm.device.type == "cuda":
        torch.cuda.synchronize()
    return out, time.perf_counter() - t0


def fork(base: CompressedKVCache, spec: KVSpec, segments: tuple[Segment, ...] = ()) -> CompressedKVCache:
    """A copy of ``base`` that will apply ``spec``: storage re-stored in its dtype, compression pending;
    ``segments``: the prompt's token spans, for record-aware policies."""
    c = copy.deepcopy(base)
    c.spec = c.policy = spec
    c.segments = segments
    if spec.dtype != base.spec.dtype:
        store = base.store
        cap, n_layers = store.capacity, base.n_layers
        k0, _ = store.read(0)
        B, H, _, D = k0.shape
        plain = PLAIN_DTYPES.get(spec.dtype, "quant")
        new: PlainStore | QuantStore
        if plain == "quant":
            new = QuantStore(n_layers, B, H, cap, D, quant_format(spec.dtype), k0.dtype, k0.device)
        else:
            new = PlainStore(n_layers, B, H, cap, D, plain or k0.dtype, k0.dtype, k0.device)  # type: ignore[arg-type]
        for layer in range(n_layers):
            new.append(layer, *store.read(layer))
        c.store = new
    c.pending = [spec.policy is not None] * base.n_layers
    return c


def _configs(ratios: Sequence[float], policies: Sequence[str], dtypes: Sequence[str]) -> list[tuple[str, KVSpec]]:
    out: list[tuple[str, KVSpec]] = [("inside", KVSpec(dtype=d)) for d in dtypes]
    for r in ratios:
        out += [("inside", KVSpec(make_policy(p, ratio=r))) for p in policies]
        out += [("outside", KVSpec(make_policy(p, ratio=r, when="chunks"))) for p in OUTSIDE if p in policies]
    if 4.0 in ratios and "snapkv" in policies and "int8" in dtypes:
        out.append(("inside", KVSpec(make_policy("snapkv", ratio=4.0), dtype="int8")))
    return out


def _recorder(llm: LLM, total: int, sums: bool = True) -> CompressedKVCache:
    """A cache that keeps every token and records 64 queries (and H2O's attention sums) for the forks."""
    spec = KVSpec(H2O(budget=10**9, window=64) if sums else make_policy("snapkv", budget=10**9, window=64))
    return spec.make_cache(llm.config, prompt_len=total, total=total, chunk=llm.prefill_chunk, dtype=llm.dtype,
                           device=llm.device)


def parse_configs(text: str) -> list[tuple[str, KVSpec]]:
    """Configurations from ``"snapkv@4,snapkv@4/outside,snapkv@4:int8,int8"``: ``policy@ratio`` (question inside
    unless ``/outside``), optionally ``:dtype`` for the storage; a bare dtype is the full cache in that format."""
    out: list[tuple[str, KVSpec]] = []
    for item in (x.strip() for x in text.split(",") if x.strip()):
        body, _, where = item.partition("/")
        where = where or "inside"
        if where not in ("inside", "outside"):
            raise ValueError(f"{item!r}: the question is 'inside' or 'outside', got {where!r}")
        out.append((where, parse_kv_spec(body, when="chunks" if where == "outside" else "end")))
    return out


def run(llm: LLM, lengths: Sequence[int] = (1024, 2048), depths: Sequence[float] = (0.1, 0.5, 0.9),
        ratios: Sequence[float] = RATIOS, policies: Sequence[str] = POLICIES, dtypes: Sequence[str] = DTYPES,
        max_new: int = 7, seed: int = 0, progress: Callable[[str], None] | None = None,
        items: Sequence[Needle] | None = None, configs: Sequence[tuple[str, KVSpec]] | None = None,
        stop: int | None = None) -> dict[str, Any]:
    """Accuracy, agreement, KV bytes and decode time per configuration.

    Parameters
    ----------
    items
        The prompts (default: passkey needles of ``lengths`` x ``depths``); their ``task`` labels the rows.
    configs
        ``(question placement, KVSpec)`` pairs (default: every policy at every ratio, plus the ``dtypes``).
    stop
        A token id that ends an answer early (default: always ``max_new`` tokens).
    """
    rows: dict[str, Row] = {}
    prefill_s: list[float] = []
    full_bytes: list[int] = []
    if items is None:
        items = needles(llm.tokenizer, tuple(lengths), tuple(depths), seed)
    configs = _configs(ratios, policies, dtypes) if configs is None else configs
    for i, nd in enumerate(items):
        base = _recorder(llm, nd.n_tokens + max_new)
        t0 = time.perf_counter()
        _forward(llm, nd.context, 0, base)
        prefill_s.append(time.perf_counter() - t0)
        inside = copy.deepcopy(base)
        q_logits = _forward(llm, nd.question, len(nd.context), inside)
        full_ids, dt = _decode(llm, fork(inside, KVSpec()), q_logits, nd.n_tokens, max_new, stop)
        full_text = llm.tokenizer.decode(full_ids)
        full_bytes.append(llm.kv_bytes_for(nd.n_tokens + max_new - 1))
        row = rows.setdefault("full", Row("longhaul", "inside", "full", 1.0, "model", nd.task))
        row.add(nd, full_text, full_text, full_bytes[-1], dt, len(full_ids))
        segments: tuple[Segment, ...] = getattr(nd, "segments", ())
        for where, spec in configs:
            if spec.policy is not None and spec.policy.needs_segments:  # refused here, before any work
                spec.check_prompt(llm.config.n_layers, nd.n_tokens if where == "inside" else len(nd.context),
                                  len(nd.context), tuple(s for s in segments if s.end <= len(nd.context))
                                  if where == "outside" else segments)
            t0 = time.perf_counter()
            if where == "inside":
                c = fork(inside, spec, segments)
                c.flush()  # compress now, so the decode time below is decode alone
                logits = q_logits
            else:
                c = fork(base, spec, segments)
                c.prompt_len = nd.n_tokens
                logits = _forward(llm, nd.question, len(nd.context), c)
            setup = time.perf_counter() - t0
            ids, dt = _decode(llm, c, logits, nd.n_tokens, max_new, stop)
            pol = spec.policy
            key = f"{where}/{spec.label}/{pol.ratio if pol else 1.0}"
            row = rows.setdefault(key, Row("longhaul", where, pol.name if pol else "full",
                                           float(pol.ratio or 1.0) if pol else 1.0, spec.dtype, nd.task))
            row.add(nd, llm.tokenizer.decode(ids), full_text, c.stats()["kv_bytes"], dt, len(ids))
            row.setup_s.append(setup)
        if progress:
            progress(f"{nd.task} {i + 1}/{len(items)} ({nd.n_tokens} tokens, depth {nd.depth:.2f}): full cache "
                     f"{'right' if nd.correct(full_text) else 'wrong'}, prefill {prefill_s[-1]:.1f} s")
    fb = sum(full_bytes) / len(full_bytes)
    return {"rows": [r.summary(fb) for r in rows.values()], "n_needles": len(items),
            "prefill_s_mean": sum(prefill_s) / len(prefill_s), "full_kv_bytes_mean": round(fb)}


def decode_speed(llm: LLM, n_tokens: int, ratio: float = 4.0, n_decode: int = 32, reps: int = 2,
                 policy: Policy | None = None) -> dict[str, Any]:
    """Decode time per token at ``n_tokens`` context with the full cache vs compressed ``ratio``x (SnapKV), and the
    ideal speedup (weights + full KV bytes) / (weights + compressed KV bytes) per token."""
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(100, llm.config.vocab_size, (n_tokens,), generator=gen).tolist()
    base = _recorder(llm, n_tokens + n_decode + 1, sums=False)
    t0 = time.perf_counter()
    logits = _forward(llm, ids, 0, base)
    prefill = time.perf_counter() - t0
    comp = policy or make_policy("snapkv", ratio=ratio)
    times: dict[str, list[float]] = {"full": [], "compressed": []}
    kv: dict[str, int] = {}
    for _ in range(reps):
        for name, spec in (("full", KVSpec()), ("compressed", KVSpec(comp))):
            c = fork(base, spec)
            if spec.policy is not None:
                c.flush()
            _, dt = _decode(llm, c, logits, n_tokens, n_decode)
            times[name].append(dt / (n_decode - 1))
            kv[name] = c.stats()["kv_bytes"]
    weights = sum(p.numel() * p.element_size() for p in llm.model.parameters())
    full_s, comp_s = min(times["full"]), min(times["compressed"])
    ideal = (weights + kv["full"]) / (weights + kv["compressed"])
    speedup = full_s / comp_s
    return {"context": n_tokens, "ratio": ratio, "policy": comp.name, "prefill_s": round(prefill, 2),
            "decode_ms_per_token_full": round(full_s * 1e3, 2),
            "decode_ms_per_token_compressed": round(comp_s * 1e3, 2),
            "weight_bytes": weights, "kv_bytes_full": kv["full"], "kv_bytes_compressed": kv["compressed"],
            "speedup": round(speedup, 3), "speedup_ideal": round(ideal, 3), "frac_of_ideal": round(speedup / ideal, 3)}
