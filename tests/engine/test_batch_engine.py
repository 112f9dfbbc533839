"""The serving core on tiny random models: every request of a batch yields exactly the tokens it yields alone
through `LLM.generate` (mixed lengths, arrivals, seeds; a pool small enough to preempt; shared prefixes)."""

from __future__ import annotations

import pytest

from engine.llm import LLM
from engine.llm_engine import EngineConfig
from engine.sequence import SamplingParams
from engine.tokenizer import load_tokenizer
from tests.helpers.tiny import loud_tiny_model

LENGTHS = (5, 17, 64, 65, 100, 3, 40, 33)


def _prompt(n: int, salt: int) -> list[int]:
    return [(7 * i + 13 * salt + 3) % 256 for i in range(n)]


@pytest.fixture(scope="module", params=["tiny-llama3", "tiny-qwen2", "tiny-mistral"])
def llm(request: pytest.FixtureRequest) -> LLM:
    return LLM(loud_tiny_model(request.param, max_seq_len=256), load_tokenizer(), max_seq_len=256)


def _alone(llm: LLM, prompt: list[int], params: SamplingParams) -> list[int]:
    return llm.generate(prompt, max_new_tokens=params.max_tokens, temperature=params.temperature,
                        top_p=params.top_p, seed=params.seed, ignore_eos=params.ignore_eos,
                        stop_token_ids=params.stop_token_ids).token_ids


def test_batch_equals_alone_greedy(llm: LLM) -> None:
    prompts = [_prompt(n, i) for i, n in enumerate(LENGTHS)]
    params = [SamplingParams(max_tokens=6 + 3 * i, ignore_eos=True) for i in range(len(prompts))]
    refs = [_alone(llm, p, sp) for p, sp in zip(prompts, params, strict=True)]
    llm.serving(EngineConfig(kv_blocks=64, block_size=16, max_num_seqs=8, max_num_batched_tokens=48))
    outs = llm.generate_batch(prompts, params)
    assert [o.token_ids for o in outs] == refs
    assert all(o.finish_reason == "length" for o in outs)
    bm = llm.serving().blocks
    assert bm.n_free == len(bm.blocks) and all(b.ref_count == 0 for b in bm.blocks)


def test_tiny_pool_preempts_and_stays_exact(llm: LLM) -> None:
    prompts = [_prompt(n, i + 3) for i, n in enumerate((30, 45, 20, 50))]
    params = SamplingParams(max_tokens=40, ignore_eos=True)
    refs = [_alone(llm, p, params) for p in prompts]
    engine = llm.serving(EngineConfig(kv_blocks=13, block_size=8, max_num_seqs=4, max_num_batched_tokens=32))
    outs = llm.generate_batch(prompts, params)
    assert engine.scheduler.preemptions > 0
    assert [o.token_ids for o in outs] == refs
    assert engine.blocks.n_free == len(engine.blocks.blocks)


def test_arrivals_seeds_and_stops(llm: LLM) -> None:
    """Requests join mid-run; sampled requests with seeds and a stop token match their solo runs."""
    engine = llm.serving(EngineConfig(kv_blocks=64, block_size=16, max_num_seqs=3, max_num_batched_tokens=24))
    specs = [(_prompt(n, 20 + i), SamplingParams(temperature=0.9, top_p=0.9, seed=i, max_tokens=12, ignore_eos=True))
             for i, n in enumerate((9, 70, 31, 4, 55))]
    greedy = SamplingParams(max_tokens=20, ignore_eos=True)
    stop_tok = _alone(llm, _prompt(25, 9), greedy)[5]
    specs.append((_prompt(25, 9), SamplingParams(max_tokens=20, ignore_eos=True, stop_token_ids=(stop_tok,))))
    refs = [_alone(llm, p, sp) for p, sp in specs]
    seqs = [llm.submit(p, sp) for p, sp in specs[:2]]
    for _ in range(3):
        engine.step()
    seqs += [llm.submit(p, sp) for p, sp in specs[2:]]
    engine.run()
    assert [s.output_ids for s in seqs] == refs
    assert seqs[-1].finish_reason == "stop" and len(seqs[-1].output_ids) <= 5


def test_prefix_blocks_computed_once(llm: LLM) -> None:
    system = _prompt(48, 99)  # three blocks of 16
    prompts = [system + _prompt(5 + i, i) for i in range(4)]
    params = SamplingParams(max_tokens=8, ignore_eos=True)
    refs = [_alone(llm, p, params) for p in prompts]
    engine = llm.serving(EngineConfig(kv_blocks=64, block_size=16, max_num_seqs=4, max_num_batched_tokens=256))
    first = llm.generate_batch(prompts[:1], params)
    computed = engine.tokens_computed
    rest = llm.generate_batch(prompts[1:], params)
    assert [g.token_ids for g in first + rest] == refs
    assert [g.cached_tokens for g in rest] == [48, 48, 48]
    assert engine.blocks.computed_hits == 3 * 48
    prompt_tokens = sum(len(p) for p in prompts[1:])
    assert engine.tokens_computed - computed == prompt_tokens - 3 * 48 + 3 * 7  # + 7 decode steps each


def test_bad_requests_refused(llm: LLM) -> None:
    engine = llm.serving(EngineConfig(kv_blocks=5, block_size=8, max_num_seqs=2, max_num_batched_tokens=16))
    with pytest.raises(ValueError, match="whole pool"):
        engine.add(_prompt(40, 1), SamplingParams(max_tokens=8))
    with pytest.raises(ValueError, match="max_tokens"):
        SamplingParams(max_tokens=0)
    with pytest.raises(ValueError, match="top_p"):
        SamplingParams(top_p=0)
    with pytest.raises(ValueError, match="empty"):
        engine.add([], SamplingParams())
    assert not engine.has_work()
