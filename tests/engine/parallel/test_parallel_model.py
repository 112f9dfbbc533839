"""A ring-parallel tiny model equals the single-process engine: logits, last-token logits and greedy tokens."""

from __future__ import annotations

import pytest

from tests.helpers.ring_suite import WORLD_SIZES, suite_results
from tests.helpers.ring_workers import NEW_TOKENS, PROMPT_LEN


@pytest.mark.parametrize("world", WORLD_SIZES)
@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_ring_prefill_logits_match(world: int, arch: str) -> None:
    results = [r[arch] for r in suite_results(world)]
    scale = results[0]["logits_max"]  # fp32 rounding grows with the logits' size
    assert max(r["logits_diff"] for r in results) <= 1e-5 * scale
    assert max(r["last_diff"] for r in results) <= 1e-5 * scale


@pytest.mark.parametrize("world", WORLD_SIZES)
@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_sharded_decode_greedy_tokens_match(world: int, arch: str) -> None:
    results = [r[arch] for r in suite_results(world)]
    assert len(set(map(tuple, (r["tokens"] for r in results)))) == 1  # every rank decoded the same tokens
    assert results[0]["tokens"] == results[0]["ref_tokens"]
    assert len(set(results[0]["tokens"])) > 1  # a non-degenerate continuation


@pytest.mark.parametrize("world", WORLD_SIZES)
def test_sharded_cache_stays_balanced(world: int) -> None:
    results = [r["llama"] for r in suite_results(world)]
    lengths = results[0]["shard_lengths"]
    assert all(r["shard_lengths"] == lengths for r in results)  # every rank agrees on the layout
    assert sum(lengths) == results[0]["cache_total"] == PROMPT_LEN + NEW_TOKENS - 1
    assert max(lengths) - min(lengths) <= 2  # new tokens go to the least-filled shard


@pytest.mark.slow
def test_smollm2_ring_matches_engine() -> None:
    from engine.parallel.launch import run_local
    from engine.tokenizer import load_tokenizer
    from tests.helpers.ring_workers import smollm2

    pytest.importorskip("gguf")
    from engine.assets import smollm2_gguf

    path = smollm2_gguf()
    ids = load_tokenizer(path).encode("Order #4411 shipped on 2024-03-02 to Berlin; the customer asked for a "
                                      "refund because the parcel arrived damaged. The agent replied that")
    results = run_local(smollm2, 3, ids, 8, timeout_s=300)
    assert max(r["logits_diff"] for r in results) <= 1e-5 * results[0]["logits_max"]
    assert all(r["tokens"] == results[0]["ref_tokens"] for r in results)
