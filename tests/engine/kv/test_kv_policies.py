"""KV compression policies on a tiny random model: invariants, budgets, windows, eviction, errors."""

from __future__ import annotations

import math

import pytest
import torch

from engine.kv import H2O, AdaKV, ChunkKV, KVSpec, Policy, PyramidKV, ScoreInputs, SnapKV, StreamingLLM, make_policy
from engine.kv.policy import Shard, window_logits
from engine.llm import LLM
from tests.helpers.tiny import PROMPT

FACTORIES = {
    "streamingllm": lambda **kw: StreamingLLM(**kw),
    "h2o": lambda **kw: H2O(**kw),
    "snapkv": lambda **kw: SnapKV(**kw),
    "pyramidkv": lambda **kw: PyramidKV(**kw),
    "adakv": lambda **kw: AdaKV(inner=SnapKV(**kw)),
    "chunkkv": lambda **kw: ChunkKV(**kw),
}


def _inputs(n: int = 50, hq: int = 4, hkv: int = 2, w: int = 8, seed: int = 0) -> ScoreInputs:
    g = torch.Generator().manual_seed(seed)
    keys, values = torch.randn(1, hkv, n, 16, generator=g), torch.randn(1, hkv, n, 16, generator=g)
    return ScoreInputs(keys, values, torch.randn(1, hq, w, 16, generator=g), 0, 2, torch.rand(1, hkv, n, generator=g))


@pytest.mark.parametrize("name", FACTORIES)
@pytest.mark.parametrize("when", ["end", "chunks", "always"])
def test_kv_budget_covering_everything_changes_nothing(tiny_llm: LLM, name: str, when: str) -> None:
    ref = tiny_llm.generate(PROMPT, max_new_tokens=10)
    for kw in ({"budget": 10_000}, {"ratio": 1.0}):
        policy = FACTORIES[name](**kw, when=when)
        g = tiny_llm.generate(PROMPT, max_new_tokens=10, kv_policy=policy)
        assert g.token_ids == ref.token_ids
        assert g.kv_stats["evicted_mean"] == 0 and g.kv_stats["kv_tokens_mean"] == len(PROMPT) + 9


@pytest.mark.parametrize("name", FACTORIES)
def test_kv_ratio_keeps_a_quarter_and_stores_fewer_bytes(tiny_llm: LLM, name: str) -> None:
    full = tiny_llm.generate(PROMPT, max_new_tokens=6, kv_policy=KVSpec())
    g = tiny_llm.generate(PROMPT, max_new_tokens=6, kv_policy=FACTORIES[name](ratio=4.0, window=8, when="end"))
    kept = math.ceil(len(PROMPT) / 4)
    if name == "adakv":  # heads padded to the largest adaptive share
        assert kept <= g.kv_stats["kv_tokens_min"] < len(PROMPT)
    elif name == "pyramidkv":  # per-layer budgets around the mean
        assert g.kv_stats["kv_tokens_max"] > g.kv_stats["kv_tokens_min"]
        assert abs(g.kv_stats["kv_tokens_mean"] - 5 - kept) <= 2
    else:
        assert g.kv_stats["kv_tokens_mean"] == kept + 5  # kept prompt tokens + the decoded ones
    assert g.kv_bytes < full.kv_bytes / 2 and len(g.token_ids) == 6


@pytest.mark.parametrize("name", ["snapkv", "pyramidkv", "h2o", "streamingllm"])
def test_kv_keep_indices_shape_order_and_recent_window(name: str) -> None:
    policy: Policy = FACTORIES[name](budget=20, window=6)
    idx = policy.keep_indices(_inputs(), n_seen=50)
    assert idx is not None and idx.shape == (1, 2, policy.layer_budget(50, 0, 2))
    assert (idx.diff(dim=-1) > 0).all()  # ascending, no duplicates
    recent = set(range(50 - policy.recent(idx.shape[-1]), 50))
    for h in range(2):
        assert recent <= set(idx[0, h].tolist())
    assert policy.keep_indices(_inputs(), n_seen=50) is not None
    assert FACTORIES[name](budget=50).keep_indices(_inputs(), n_seen=50) is None


def test_kv_streamingllm_keeps_sinks_and_recent() -> None:
    idx = StreamingLLM(budget=12, n_sink=4, window=0).keep_indices(_inputs(), n_seen=50)
    assert idx is not None and idx[0, 0].tolist() == [0, 1, 2, 3, *range(42, 50)]


def test_kv_snapkv_keeps_the_token_the_window_attends_to() -> None:
    inp = _inputs(n=60, w=8)
    inp.keys[:, :, 17] = inp.queries.mean(dim=2).view(1, 2, 2, 16).mean(2) * 8  # a key aligned with the window
    idx = SnapKV(budget=12, window=8, kernel=1).keep_indices(inp, n_seen=60)
    assert idx is not None and all(17 in idx[0, h].tolist() for h in range(2))


def test_kv_h2o_keeps_heavy_hitters_and_evicts_during_decode(tiny_llm: LLM) -> None:
    inp = _inputs()
    inp.attn_sum[:, :, 5] = 100.0
    idx = H2O(budget=10).keep_indices(inp, n_seen=50)
    assert idx is not None and (idx[..., 0] == 5).all()
    g = tiny_llm.generate(PROMPT, max_new_tokens=12, kv_policy=H2O(budget=30))
    assert g.kv_stats["kv_tokens_max"] == 30 and g.kv_stats["evicted_mean"] == len(PROMPT) + 11 - 30


def test_kv_pyramid_budgets_shrink_with_depth_and_average_the_budget() -> None:
    p = PyramidKV(budget=200, window=8)
    budgets = [p.layer_budget(1000, layer, 30) for layer in range(30)]
    assert budgets == sorted(budgets, reverse=True) and budgets[0] > 200 > budgets[-1]
    assert abs(sum(budgets) / 30 - 200) < 2


def test_kv_compression_during_prefill_lowers_peak_memory(tiny_llm: LLM) -> None:
    end = tiny_llm.generate(PROMPT, max_new_tokens=4, kv_policy=StreamingLLM(ratio=4.0, when="end"))
    chunks = tiny_llm.generate(PROMPT, max_new_tokens=4, kv_policy=StreamingLLM(ratio=4.0, when="always"))
    assert chunks.kv_stats["kv_alloc_bytes"] < end.kv_stats["kv_alloc_bytes"]
    assert chunks.kv_stats["kv_peak_tokens_mean"] < end.kv_stats["kv_peak_tokens_mean"] == len(PROMPT)
    assert chunks.kv_stats["kv_tokens_mean"] <= end.kv_stats["kv_tokens_mean"]  # "always" also evicts in decode


def test_kv_policy_bad_input_errors() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        SnapKV()
    with pytest.raises(ValueError, match="exactly one"):
        SnapKV(ratio=2.0, budget=10)
    with pytest.raises(ValueError, match=">= 1"):
        SnapKV(ratio=0.5)
    with pytest.raises(ValueError, match="end, chunks, always"):
        SnapKV(ratio=2.0, when="later")
    with pytest.raises(ValueError, match="snapkv"):
        make_policy("lru")
    with pytest.raises(ValueError, match="int8, int8-channel"):
        KVSpec(dtype="int3")
    assert isinstance(make_policy("adakv", ratio=2.0), AdaKV)


def test_chunkkv_keeps_whole_chunks_best_first() -> None:
    n, chunk = 96, 8
    inp = _inputs(n=n, w=4)
    keys = inp.keys.clone()
    keys[:, :, 40:48] = 5 * inp.queries.view(1, 2, 2, 4, 16).mean(dim=(2, 3))[:, :, None]  # chunk 5 is what the
    policy = ChunkKV(budget=24, window=8, chunk=chunk)                                        # window looks at
    idx = policy.keep_indices(ScoreInputs(keys, inp.values, inp.queries, 0, 2, None), n)
    assert idx is not None
    for head in idx[0].tolist():
        older = [i for i in head if i < n - 8]  # the recent window is kept on its own
        assert set(range(40, 48)) <= set(older)  # the attended chunk, whole
        assert len({i // chunk for i in older}) == len(older) // chunk  # only whole chunks
    with pytest.raises(ValueError, match="chunk must be"):
        ChunkKV(ratio=4.0, chunk=0)
    assert isinstance(make_policy("chunkkv", ratio=4.0, chunk=32), ChunkKV)


def test_parse_kv_spec_reads_the_cli_and_config_forms() -> None:
    from engine.kv import ChunkKV, parse_kv_spec

    assert parse_kv_spec("full").policy is None and parse_kv_spec("int8").dtype == "int8"
    spec = parse_kv_spec("chunkkv@4:int8")
    assert isinstance(spec.policy, ChunkKV) and spec.policy.ratio == 4.0 and spec.dtype == "int8"
    assert parse_kv_spec("snapkv@2", when="chunks").policy.when == "chunks"  # type: ignore[union-attr]
    for bad, why in (("int7", "unknown KV cache"), ("snapkv@x", "policy@ratio"), ("nokv@4", "unknown KV policy")):
        with pytest.raises(ValueError, match=why):
            parse_kv_spec(bad)


@pytest.mark.parametrize("name", [n for n in FACTORIES if n != "h2o"])
def test_votes_of_parts_sum_to_the_whole_votes(name: str) -> None:
    """What lets ring ranks score together: each part's votes (its keys at their global positions, window attention
    normalised over every key) placed and summed are the whole sequence's votes, and `from_votes` of those is
    `score`."""
    policy = FACTORIES[name](budget=12, window=8)
    assert policy.splits_votes()
    whole = _inputs()
    n = whole.keys.shape[2]
    parts = [torch.tensor([p for p in range(n) if (p // 7) % 2 == r]) for r in range(2)]  # interleaved, like zigzag
    shards = [ScoreInputs(whole.keys[:, :, pos], whole.values[:, :, pos], whole.queries, 0, 2, shard=Shard(pos, n))
              for pos in parts]
    lse = torch.stack([window_logits(s).logsumexp(-1) for s in shards]).logsumexp(0)  # (B, Hkv, group, w)
    summed = torch.zeros(1, 2, n)
    for pos, s in zip(parts, shards, strict=True):
        s.shard = Shard(pos, n, lse)
        summed[..., pos] += policy.votes(s)
    assert torch.allclose(summed, policy.votes(whole), atol=1e-6)
    assert torch.equal(policy.from_votes(policy.votes(whole)), policy.score(whole))


def test_a_policy_overriding_score_alone_runs_on_one_device_only() -> None:
    from dataclasses import dataclass

    from engine.parallel.compress import ring_spec

    @dataclass
    class Recency(Policy):
        def score(self, inputs: ScoreInputs) -> torch.Tensor:
            return torch.arange(inputs.keys.shape[2], dtype=torch.float32).expand(inputs.keys.shape[:3])

    @dataclass
    class SharedHeads(SnapKV):  # keeps SnapKV's votes but rescores them: the ring would not see the change
        def score(self, inputs: ScoreInputs) -> torch.Tensor:
            s = super().score(inputs)
            return s.mean(dim=1, keepdim=True).expand_as(s)

    for policy in (Recency(budget=4), SharedHeads(budget=4), AdaKV(inner=SharedHeads(budget=4))):
        assert not policy.splits_votes()
        assert policy.keep_indices(_inputs(), 50) is not None  # single device: scored as written
        with pytest.raises(ValueError, match="votes"):
            ring_spec(policy, torch.float32)
