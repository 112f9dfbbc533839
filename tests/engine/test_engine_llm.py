"""`LLM` behaviour on a tiny random model: chunked prefill, prefix cache, sampling, stops, admission, errors."""

from __future__ import annotations

import pytest
import torch

from engine.config import ModelConfig
from engine.kv.cache import KVCache
from engine.kv.compressed import KVSpec
from engine.llm import LLM
from engine.tokenizer import load_tokenizer
from tests.helpers.tiny import loud_tiny_model

PROMPT = [(7 * i + 3) % 256 for i in range(45)]


@pytest.fixture(scope="module")
def llm() -> LLM:
    model = loud_tiny_model("tiny-llama3", max_seq_len=256)
    return LLM(model, load_tokenizer(), max_seq_len=256)


def _fresh(llm: LLM, chunk: int = 1024) -> LLM:
    other = LLM(llm.model, llm.tokenizer, max_seq_len=llm.max_seq_len, prefill_chunk=chunk)
    return other


def test_chunked_prefill_equals_one_shot(llm: LLM) -> None:
    one = _fresh(llm)
    cache = one._admit(len(PROMPT), None, len(PROMPT))
    ref, _ = one._prefill(PROMPT, cache)
    for chunk in (1, 7, 16):
        ch = _fresh(llm, chunk)
        logits, _ = ch._prefill(PROMPT, ch._admit(len(PROMPT), None, len(PROMPT)))
        torch.testing.assert_close(logits, ref, atol=1e-4, rtol=1e-4)
        assert ch.generate(PROMPT, max_new_tokens=12).token_ids == one.generate(PROMPT, max_new_tokens=12).token_ids


def test_model_forward_equals_cached_decode(llm: LLM) -> None:
    cfg = llm.config
    ids = torch.tensor([PROMPT])
    cache = KVCache(cfg.n_layers, cfg.n_kv_heads, cfg.head_dim, 64)
    with torch.inference_mode():
        full = llm.model(ids)
        llm.model(ids[:, :30], 0, cache)
        steps = [llm.model(ids[:, t:t + 1], t, cache)[:, -1] for t in range(30, 45)]
    torch.testing.assert_close(torch.stack(steps, 1), full[:, 30:], atol=1e-4, rtol=1e-4)


def test_prefix_cache_equals_uncached(llm: LLM) -> None:
    warm = _fresh(llm)
    system = PROMPT[:30]
    warm.generate(system + [1, 2, 3], max_new_tokens=5)
    second = warm.generate(system + [9, 8, 7, 6], max_new_tokens=10)
    assert second.cached_tokens == 30
    cold = _fresh(llm).generate(system + [9, 8, 7, 6], max_new_tokens=10)
    assert cold.cached_tokens == 0
    assert second.token_ids == cold.token_ids
    again = warm.generate(system + [9, 8, 7, 6], max_new_tokens=10)  # whole prompt cached: last token recomputed
    assert again.cached_tokens == 33 and again.token_ids == cold.token_ids


def test_sampling_seeded_and_top_p(llm: LLM) -> None:
    a = llm.generate(PROMPT, max_new_tokens=16, temperature=1.0, seed=3)
    b = llm.generate(PROMPT, max_new_tokens=16, temperature=1.0, seed=3)
    assert a.token_ids == b.token_ids
    greedy = llm.generate(PROMPT, max_new_tokens=16)
    tiny_p = llm.generate(PROMPT, max_new_tokens=16, temperature=1.0, top_p=1e-6, seed=5)
    assert tiny_p.token_ids == greedy.token_ids  # a nucleus of one token is greedy


def test_sample_distribution() -> None:
    from engine.sampling import sample

    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2]])).expand(20000, 3)
    counts = torch.bincount(sample(logits, 1.0, 1.0, torch.Generator().manual_seed(0)), minlength=3) / 20000
    torch.testing.assert_close(counts, torch.tensor([0.5, 0.3, 0.2]), atol=0.02, rtol=0)
    nucleus = torch.bincount(sample(logits, 1.0, 0.7, torch.Generator().manual_seed(0)), minlength=3) / 20000
    assert nucleus[2] == 0 and nucleus[0] > 0.55


def test_stop_tokens_and_length(llm: LLM) -> None:
    g = llm.generate(PROMPT, max_new_tokens=8)
    assert g.finish_reason == "length" and len(g.token_ids) == 8
    stopped = llm.generate(PROMPT, max_new_tokens=8, stop_token_ids=[g.token_ids[3]])
    first = g.token_ids.index(g.token_ids[3])
    assert stopped.finish_reason == "stop" and stopped.token_ids == g.token_ids[:first]
    assert g.kv_bytes == KVCache.bytes_needed(2, 2, 16, len(PROMPT) + 8)


def test_bad_input_errors(llm: LLM) -> None:
    with pytest.raises(ValueError, match="max_seq_len"):
        llm.generate([1] * 300)
    with pytest.raises(ValueError, match="empty"):
        llm.generate([])
    with pytest.raises(ValueError, match="token ids"):
        llm.generate([5, 1000])
    budget = LLM(llm.model, llm.tokenizer, max_seq_len=256, kv_budget_bytes=KVCache.bytes_needed(2, 2, 16, 50))
    with pytest.raises(ValueError, match="budget"):
        budget.generate(PROMPT, max_new_tokens=10)
    assert budget._cache is None  # refused before any work
    assert len(budget.generate(PROMPT, max_new_tokens=5).token_ids) == 5
    with pytest.raises(ValueError, match="choose one of"):
        ModelConfig.named("gpt-5")


def test_kv_policy_builds_the_request_cache(llm: LLM) -> None:
    made: list[KVCache] = []

    class Spec(KVSpec):  # the request's cache comes from its spec's make_cache
        def make_cache(  # type: ignore[override]  # a plain cache where the engine's spec builds a compressed one
            self, config: ModelConfig, *, prompt_len: int, total: int, chunk: int, dtype: torch.dtype,
            device: str | torch.device, batch: int = 1,
        ) -> KVCache:
            made.append(KVCache(config.n_layers, config.n_kv_heads, config.head_dim, total, dtype=dtype,
                                device=device, policy=self))
            return made[-1]

    other = _fresh(llm)
    with_spec = other.generate(PROMPT, max_new_tokens=6, kv_policy=Spec())
    assert len(made) == 1 and made[0].max_len == len(PROMPT) + 6
    assert with_spec.token_ids == _fresh(llm).generate(PROMPT, max_new_tokens=6).token_ids


def test_static_decode_equals_eager(llm: LLM) -> None:
    """The static-shape step (device-side position, whole cache, as captured in CUDA graphs) decodes the same."""
    static = LLM(llm.model, llm.tokenizer, max_seq_len=256, decode_mode="static")
    eager = _fresh(llm).generate(PROMPT, max_new_tokens=12).token_ids
    assert static.generate(PROMPT, max_new_tokens=12).token_ids == eager
    with pytest.raises(ValueError, match="choose one of"):
        LLM(llm.model, llm.tokenizer, max_seq_len=256, decode_mode="turbo")


def test_byte_tokenizer_fallback_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:

    def missing(*args: object) -> None:
        raise FileNotFoundError("the model package is not installed")

    import engine.tokenizer as tokenizer_module

    monkeypatch.setattr(tokenizer_module, "load_tokenizer", missing)
    tok = tokenizer_module.synthetic_tokenizer()
    ids = tok.encode("héllo, wörld")
    assert tok.decode(ids) == "héllo, wörld" and max(ids) < 256
    assert tok.encode("<|im_end|>") == [tok.eos_id]


def test_on_token_pieces_join_to_the_text_and_match_stream(llm: LLM) -> None:
    pieces: list[str] = []
    g = llm.generate(PROMPT, max_new_tokens=12, on_token=pieces.append)
    assert pieces and "".join(pieces) == g.text
    assert list(llm.stream(PROMPT, max_new_tokens=12)) == pieces  # one decode loop behind both paths


def test_an_on_token_error_stops_the_decode_and_the_cache_stays_usable(llm: LLM) -> None:
    class Gone(Exception):
        pass

    seen: list[str] = []

    def hang_up(piece: str) -> None:
        seen.append(piece)
        raise Gone

    with pytest.raises(Gone):
        llm.generate(PROMPT, max_new_tokens=12, on_token=hang_up)
    assert len(seen) == 1
    assert llm.generate(PROMPT, max_new_tokens=12).text == _fresh(llm).generate(PROMPT, max_new_tokens=12).text
