"""Compressed caches decode with static shapes (the CUDA-graph path) where the policy never evicts during decode:
the same tokens and KV bytes as eager decode, each layer's slot at its own compressed length."""

from __future__ import annotations

import pytest
import torch

from engine.kv import KVSpec, make_policy
from engine.kv.compressed import CompressedKVCache
from engine.llm import LLM
from engine.model_runner import CompressedStatic
from engine.tokenizer import load_tokenizer
from tests.helpers.tiny import loud_tiny_model

PROMPT = [(11 * i + 5) % 256 for i in range(120)]


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    m = loud_tiny_model("tiny-llama3", max_seq_len=256)
    return m


def _run(model: torch.nn.Module, mode: str, spec: KVSpec, n: int = 16) -> tuple[list[int], dict[str, float]]:
    llm = LLM(model, load_tokenizer(), max_seq_len=256, decode_mode=mode)
    g = llm.generate(PROMPT, max_new_tokens=n, kv_policy=spec, ignore_eos=True)
    return g.token_ids, {"kv_bytes": g.kv_bytes, **g.timings_ms}


@pytest.mark.parametrize("policy", ["snapkv", "pyramidkv", "streamingllm", "adakv", "chunkkv"])
def test_static_compressed_decode_equals_eager(model: torch.nn.Module, policy: str) -> None:
    spec = KVSpec(make_policy(policy, ratio=4.0))
    eager, e = _run(model, "eager", spec)
    static, s = _run(model, "static", spec)
    assert static == eager
    assert s["kv_bytes"] == e["kv_bytes"] and "decode_prepare" in s and "decode_prepare" not in e


def test_slots_follow_each_layers_compressed_length(model: torch.nn.Module) -> None:
    spec = KVSpec(make_policy("pyramidkv", ratio=4.0))  # per-layer budgets: layers hold different lengths
    llm = LLM(model, load_tokenizer(), max_seq_len=256, decode_mode="static")
    cache = llm._admit(len(PROMPT) + 8, spec, len(PROMPT))
    assert isinstance(cache, CompressedKVCache)
    llm._prefill(PROMPT, cache)
    step = llm._decoder(cache)
    assert isinstance(step, CompressedStatic)
    step.prepare()
    assert cache.slots is not None
    before = list(cache.store.n)
    assert cache.slots.tolist() == before and before != [len(PROMPT)] * len(before)  # compressed, not positions
    with torch.inference_mode():
        step(torch.tensor(3), len(PROMPT))
    assert cache.slots.tolist() == cache.store.n == [n + 1 for n in before]


@pytest.mark.parametrize("policy", [None, "snapkv"])
def test_static_int8_decode_equals_eager(model: torch.nn.Module, policy: str | None) -> None:
    """Int8 per-token KV decodes with static shapes: codes written in place, the newest token unquantized."""
    spec = KVSpec(make_policy(policy, ratio=4.0) if policy else None, dtype="int8")
    eager, e = _run(model, "eager", spec)
    static, s = _run(model, "static", spec)
    assert static == eager and s["kv_bytes"] == e["kv_bytes"] and "decode_prepare" in s


def test_decode_time_eviction_and_other_quantized_stores_stay_eager(model: torch.nn.Module) -> None:
    for spec in (KVSpec(make_policy("h2o", ratio=4.0)), KVSpec(dtype="int4"), KVSpec(dtype="int8-channel")):
        llm = LLM(model, load_tokenizer(), max_seq_len=256, decode_mode="static")
        cache = llm._admit(len(PROMPT) + 8, spec, len(PROMPT))
        assert isinstance(cache, CompressedKVCache) and not cache.static_ready()
        assert not isinstance(llm._decoder(cache), CompressedStatic)
        with pytest.raises(ValueError, match="static shapes"):
            cache.begin_static()
    tokens, _ = _run(model, "static", KVSpec(make_policy("h2o", ratio=4.0)), n=6)
    assert tokens == _run(model, "eager", KVSpec(make_policy("h2o", ratio=4.0)), n=6)[0]


def test_a_full_static_buffer_is_refused_before_the_write(model: torch.nn.Module) -> None:
    llm = LLM(model, load_tokenizer(), max_seq_len=256, decode_mode="static")
    cache = llm._admit(len(PROMPT) + 4, KVSpec(make_policy("snapkv", ratio=4.0)), len(PROMPT))
    llm._prefill(PROMPT, cache)
    step = llm._decoder(cache)
    assert isinstance(step, CompressedStatic)
    step.prepare()
    cache.store.n = [cache.store.capacity] * len(cache.store.n)
    with pytest.raises(ValueError, match="holds .* tokens per layer"):
        step(torch.tensor(3), len(PROMPT))
