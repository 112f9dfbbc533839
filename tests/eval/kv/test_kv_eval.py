"""The KV eval end to end on a tiny random model with a byte tokenizer: rows, bytes, headline keys."""

from __future__ import annotations

import pytest

from engine.llm import LLM
from engine.weights import load_model
from eval.kv import sweep as kv
from eval.kv.tasks import passkey


class ByteTok:
    eos_id = 0

    def encode(self, text: str) -> list[int]:
        return list(text.encode())

    def decode(self, ids: list[int]) -> str:
        return bytes(ids).decode(errors="replace")


def test_kv_passkey_prompt_places_the_needle() -> None:
    tok = ByteTok()
    for depth in (0.0, 0.5, 1.0):
        nd = passkey(tok, 2000, depth, 12345)
        text = tok.decode(nd.context)
        at = text.index("The pass key is 12345") / len(text)
        assert abs(at - depth) < 0.1 and abs(nd.n_tokens - 2000) < 120
        assert tok.decode(nd.question).endswith("The pass key is")
    with pytest.raises(ValueError, match="depth"):
        passkey(tok, 100, 1.5, 1)


def test_kv_eval_rows_and_headline() -> None:
    llm = LLM(load_model("synthetic:tiny-llama3", max_seq_len=512), ByteTok(), max_seq_len=512,  # type: ignore[arg-type]
              prefill_chunk=64)
    acc = kv.run(llm, lengths=(200,), depths=(0.5,), ratios=(4.0,), policies=("snapkv", "streamingllm"),
                 dtypes=("bf16", "int8"), max_new=3)
    rows = {(r["question"], r["policy"], r["kv_dtype"]): r for r in acc["rows"]}
    assert set(rows) == {("inside", "full", "model"), ("inside", "full", "bf16"), ("inside", "full", "int8"),
                         ("inside", "snapkv", "model"), ("inside", "streamingllm", "model"),
                         ("outside", "snapkv", "model"), ("outside", "streamingllm", "model"),
                         ("inside", "snapkv", "int8")}
    assert rows[("inside", "full", "model")]["agreement"] == 1.0
    assert rows[("inside", "full", "bf16")]["kv_bytes_vs_full"] == pytest.approx(0.5, abs=0.01)
    assert rows[("inside", "snapkv", "model")]["kv_bytes_vs_full"] < 0.3
    assert rows[("inside", "snapkv", "int8")]["kv_bytes_vs_full"] < 0.1
    speed = kv.decode_speed(llm, 200, n_decode=4, reps=1)
    assert speed["kv_bytes_compressed"] < speed["kv_bytes_full"] and speed["speedup_ideal"] > 1
    head = kv.headline(acc, speed)
    assert head["int8_bytes_ratio_vs_bf16"] < 0.6 and "decode_speedup_frac_of_ideal_8k_4x" in head
    assert head["snapkv4x_minus_kvpress_acc"] is None  # no peer rows given


def test_kv_memory_chunked_prefill_allocates_less() -> None:
    from eval.kv import memory as kv_memory

    llm = LLM(load_model("synthetic:tiny-llama3", max_seq_len=512), ByteTok(), max_seq_len=512)  # type: ignore[arg-type]
    default = llm.prefill_chunk
    rep = kv_memory.run(llm, n_tokens=300, chunk=64)
    rows = {(r["policy"], r["when"]): r for r in rep["rows"]}
    full, end, chunks = rows[("full", "end")], rows[("snapkv", "end")], rows[("snapkv", "chunks")]
    assert full["kv_alloc_bytes"] == end["kv_alloc_bytes"] > 2 * chunks["kv_alloc_bytes"]
    assert chunks["kv_peak_tokens_mean"] < end["kv_peak_tokens_mean"] <= full["kv_peak_tokens_mean"]
    assert llm.prefill_chunk == default  # restored
