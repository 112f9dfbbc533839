"""Ranks for the compressed-KV ring tests: single-device references on rank 0, then the same through the ring."""

from __future__ import annotations

from typing import Any

import torch

from engine.kv import AdaKV, ChunkKV, KVCache, KVSpec, PyramidKV, SnapKV, StreamingLLM
from engine.model import Transformer
from tests.helpers.tiny import loud_tiny_model

PROMPTS = {"p29": [(7 * i + 3) % 256 for i in range(29)], "p37": [(11 * i + 5) % 256 for i in range(37)]}
NEW = 8
# name -> (prompt, spec): budgets well below the prompt, windows that span two zigzag chunks, ragged AdaKV heads
CASES: dict[str, tuple[str, KVSpec]] = {
    "streaming": ("p29", KVSpec(StreamingLLM(budget=11, n_sink=3, window=5))),
    "snapkv": ("p37", KVSpec(SnapKV(budget=10, window=7, kernel=3))),
    "snapkv_ratio": ("p29", KVSpec(SnapKV(ratio=3.0, window=8, kernel=5))),
    "pyramidkv": ("p37", KVSpec(PyramidKV(budget=12, window=4, kernel=3))),
    "adakv": ("p29", KVSpec(AdaKV(inner=SnapKV(budget=9, window=6, kernel=1)))),
    "chunkkv": ("p37", KVSpec(ChunkKV(budget=14, window=4, chunk=5))),  # chunks that straddle zigzag shards
    "full_budget": ("p37", KVSpec(SnapKV(budget=1000, window=8))),
    "streaming_full": ("p29", KVSpec(StreamingLLM(budget=29))),
    "no_policy": ("p37", KVSpec()),
}
FULL = ("full_budget", "streaming_full", "no_policy")  # keep every prompt token


def _model() -> Transformer:
    return loud_tiny_model("tiny-llama3", max_seq_len=256)


@torch.inference_mode()
def single_kept(model: Transformer, ids: list[int], spec: KVSpec) -> list[list[list[list[int]]]]:
    """Positions the single-device compressed cache keeps, ``[layer][batch][head]``, found by matching its stored
    keys against an uncompressed forward's keys (exact copies, so exact matches)."""
    cfg, T = model.config, len(ids)
    cache = spec.make_cache(cfg, prompt_len=T, total=T + 1, chunk=4096, dtype=torch.float32, device="cpu")
    full = KVCache(cfg.n_layers, cfg.n_kv_heads, cfg.head_dim, T)
    model(torch.tensor([ids]), 0, cache)
    model(torch.tensor([ids]), 0, full)
    cache.flush()
    out = []
    for layer in range(cfg.n_layers):
        kept, _ = cache.store.read(layer)  # (B, Hkv, k, D)
        ref = full.k[layer, :, :, :T]  # (B, Hkv, T, D)
        eq = (kept[:, :, :, None] == ref[:, :, None]).all(-1)  # (B, Hkv, k, T)
        assert bool((eq.sum(-1) == 1).all()), "every kept key matches exactly one prompt position"
        pos = eq.float().argmax(-1)  # (B, Hkv, k)
        out.append([[sorted(pos[b, h].tolist()) for h in range(pos.shape[1])] for b in range(pos.shape[0])])
    return out


def _generation(g: Any) -> dict[str, Any]:
    return {"token_ids": g.token_ids, "kv_bytes": g.kv_bytes, "kv_tokens_mean": g.kv_stats.get("kv_tokens_mean")}


def compress_suite(rank: int, world: int) -> dict[str, Any]:
    """Rank 0 returns references and ring results; every rank returns its kept positions per case."""
    from engine.llm import LLM
    from engine.parallel import CompressedShardedKVCache, ring_prefill
    from engine.parallel.llm import RingLLM
    from engine.tokenizer import load_tokenizer

    model, tok = _model(), load_tokenizer()
    ref: dict[str, Any] = {}
    if rank == 0:  # before the ring transform, which changes the model in place
        single = LLM(model, tok, max_seq_len=256)
        ref["plain"] = {
            p: single.generate(ids, max_new_tokens=NEW, ignore_eos=True).token_ids for p, ids in PROMPTS.items()
        }
        for name, (p, spec) in CASES.items():
            ref[name] = {
                "kept": single_kept(model, PROMPTS[p], spec),
                **_generation(single.generate(PROMPTS[p], max_new_tokens=NEW, kv_policy=spec, ignore_eos=True)),
            }
    llm = RingLLM(model, tok, max_seq_len=256)
    kept = {}
    for name, (p, spec) in CASES.items():
        cache = CompressedShardedKVCache(model.config, spec, len(PROMPTS[p]), 1)
        ring_prefill(model, torch.tensor([PROMPTS[p]]), cache)
        kept[name] = cache.kept_positions()
    if rank > 0:
        return {"kept": kept, "served": llm.follow()}
    ring = {
        name: _generation(llm.generate(PROMPTS[p], max_new_tokens=NEW, kv_policy=spec, ignore_eos=True))
        for name, (p, spec) in CASES.items()
    }
    ring["plain"] = {p: llm.generate(ids, max_new_tokens=NEW, ignore_eos=True).token_ids for p, ids in PROMPTS.items()}
    llm.close()
    return {"kept": kept, "ref": ref, "ring": ring}
