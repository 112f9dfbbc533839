"""KV compression after ring prefill equals single-device compression: global budget, same kept tokens, same tokens."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
import torch

from engine.kv import H2O, KVSpec, SnapKV, StreamingLLM
from engine.parallel.compress import masked_attention, ring_spec
from tests.helpers.compress_workers import CASES, FULL, PROMPTS

WORLDS = [2, 3]  # one set of spawned ranks per world size runs every case (~5 s each)


@cache
def _results(world: int) -> list[dict[str, Any]]:
    from engine.parallel.launch import run_local
    from tests.helpers.compress_workers import compress_suite

    return run_local(compress_suite, world, timeout_s=240)


@pytest.mark.parametrize("world", WORLDS)
@pytest.mark.parametrize("name", list(CASES))
def test_ring_kept_tokens_equal_single_device(world: int, name: str) -> None:
    results = _results(world)
    ref = results[0]["ref"][name]["kept"]
    T = len(PROMPTS[CASES[name][0]])
    for layer, heads in enumerate(ref):  # [layer][batch][head]
        for b, per_head in enumerate(heads):
            for h, want in enumerate(per_head):
                shards = [r["kept"][name][layer][b][h] for r in results]
                union = sorted(p for s in shards for p in s)
                assert union == want, (layer, b, h, shards)
                assert len(set(union)) == len(union)  # no token kept twice
                assert all(set(s) <= set(range(T)) for s in shards)
                if name in FULL:
                    assert union == list(range(T))


@pytest.mark.parametrize("world", WORLDS)
@pytest.mark.parametrize("name", list(CASES))
def test_ring_generate_with_kv_policy_equals_single_device(world: int, name: str) -> None:
    main = _results(world)[0]
    ref, ring = main["ref"][name], main["ring"][name]
    assert ring["token_ids"] == ref["token_ids"]
    assert ring["kv_bytes"] == ref["kv_bytes"]  # summed over ranks
    assert ring["kv_tokens_mean"] == pytest.approx(ref["kv_tokens_mean"])


@pytest.mark.parametrize("world", WORLDS)
def test_ring_budget_covering_the_prompt_changes_nothing(world: int) -> None:
    main = _results(world)[0]
    assert main["ring"]["plain"] == main["ref"]["plain"]
    for name in FULL:
        assert main["ring"][name]["token_ids"] == main["ref"]["plain"][CASES[name][0]]
    assert len(set(main["ref"]["plain"]["p37"])) > 1  # not a constant continuation


@pytest.mark.parametrize("world", WORLDS)
def test_ring_compression_really_evicts_and_followers_served(world: int) -> None:
    results = _results(world)
    for name in ("streaming", "snapkv", "pyramidkv", "adakv"):
        T = len(PROMPTS[CASES[name][0]])
        assert all(len(h) < T for layer in results[0]["ref"][name]["kept"] for b in layer for h in b)
    plain, ring = results[0]["ref"]["plain"], results[0]["ring"]
    assert any(ring[name]["token_ids"] != plain[CASES[name][0]] for name in CASES if name not in FULL)
    counts = [[len(h) for h in b] for r in results for name in CASES for layer in r["kept"][name] for b in layer]
    assert any(len(set(c)) > 1 for c in counts)  # some rank keeps different counts per head: the padded path ran
    assert [r["served"] for r in results[1:]] == [len(CASES) + len(PROMPTS)] * (world - 1)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (KVSpec(H2O(budget=8)), "when='always'"),
        (KVSpec(H2O(budget=8, when="end")), "accumulated"),
        (KVSpec(SnapKV(budget=8, when="chunks")), "when='chunks'"),
        (KVSpec(SnapKV(budget=8), dtype="int8"), "dtype='model'"),
        ("snapkv", "KVSpec or Policy"),
    ],
)
def test_ring_spec_refuses_what_the_ring_cannot_do(spec: Any, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        ring_spec(spec, torch.float32)


def test_ring_spec_wraps_a_bare_policy() -> None:
    assert ring_spec(StreamingLLM(budget=4), torch.float32) == KVSpec(StreamingLLM(budget=4))
    assert ring_spec(KVSpec(SnapKV(budget=4), dtype="fp32"), torch.float32).dtype == "fp32"


def test_masked_attention_equals_attention_over_the_valid_keys() -> None:
    from engine.attention import attention

    g = torch.Generator().manual_seed(0)
    q, k, v = torch.randn(1, 4, 2, 8, generator=g), torch.randn(1, 2, 5, 8, generator=g), torch.randn(1, 2, 5, 8)
    valid = torch.tensor([[[True, True, False, True, False], [True, True, True, True, True]]])
    out, lse = masked_attention(q, k, v, valid)
    for h, idx in enumerate([[0, 1, 3], [0, 1, 2, 3, 4]]):
        o, s = attention(q[:, 2 * h : 2 * h + 2], k[:, h : h + 1, idx], v[:, h : h + 1, idx], causal=False)
        assert torch.allclose(out[:, 2 * h : 2 * h + 2], o, atol=1e-5) and torch.allclose(lse[:, 2 * h : 2 * h + 2], s)
