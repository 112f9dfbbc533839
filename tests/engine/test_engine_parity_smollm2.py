"""SmolLM2 (bundled GGUF): our logits and greedy continuations against transformers' ``gguf_file=`` model."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PROMPTS = [
    "The capital of France is",
    "Order #4411 shipped on 2024-03-02 to Berlin; the customer asked for a refund because",
    "def fibonacci(n):",
    "Once upon a time, in a small village by the sea,",
    "The quick brown fox jumps over the lazy dog. " * 8,
    "Q: What is 17 + 25?\nA:",
    "Les commandes de ce client sont",
    "<|im_start|>user\nSummarise the return policy.<|im_end|>\n<|im_start|>assistant\n",
    "1, 2, 3, 5, 8, 13,",
    "Invoice INV-2291: 3 x USB-C cable (EUR 9.99 each), 1 x charger (EUR 24.50). Total:",
]


@pytest.fixture(scope="module")
def models():  # type: ignore[no-untyped-def]
    from transformers import AutoModelForCausalLM

    from engine.assets import smollm2_gguf
    from engine.llm import LLM

    torch.set_num_threads(2)
    path = smollm2_gguf()
    hf = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32).eval()
    return LLM.load(max_seq_len=2048, adapter=None), hf


def test_logits_match_transformers(models) -> None:  # type: ignore[no-untyped-def]
    llm, hf = models
    worst = 0.0
    for prompt in PROMPTS:
        ids = torch.tensor([llm.tokenizer.encode(prompt)])
        with torch.inference_mode():
            ours = llm.model(ids)
            ref = hf(ids).logits
        worst = max(worst, (ours - ref).abs().max().item())
    assert worst <= 1e-4, worst


def test_cached_decode_logits_match_transformers(models) -> None:  # type: ignore[no-untyped-def]
    """Prefill in chunks into the KV cache, then one decode step: equal to a full forward of transformers."""
    from engine.kv.cache import KVCache

    llm, hf = models
    cfg = llm.config
    ids = torch.tensor([llm.tokenizer.encode(PROMPTS[1] + " " + PROMPTS[3])])
    cache = KVCache(cfg.n_layers, cfg.n_kv_heads, cfg.head_dim, 64)
    n = ids.shape[1]
    with torch.inference_mode():
        llm.model(ids[:, : n - 9], 0, cache)
        llm.model(ids[:, n - 9 : n - 1], n - 9, cache)
        step = llm.model(ids[:, n - 1 :], n - 1, cache)[:, -1]
        ref = hf(ids).logits[:, -1]
    assert (step - ref).abs().max().item() <= 1e-4


@pytest.mark.slow
def test_greedy_continuations_identical(models) -> None:  # type: ignore[no-untyped-def]
    llm, hf = models
    eos = llm.tokenizer.eos_id
    for prompt in PROMPTS[:4] + PROMPTS[7:8]:
        ids = llm.tokenizer.encode(prompt)
        ours = llm.generate(ids, max_new_tokens=24).token_ids
        with torch.inference_mode():
            out = hf.generate(torch.tensor([ids]), max_new_tokens=24, do_sample=False, eos_token_id=eos,
                              pad_token_id=eos)[0, len(ids):].tolist()
        ref = out[: out.index(eos)] if eos in out else out
        assert ours == ref, prompt


def test_stream_equals_generate_and_stop_strings(models) -> None:  # type: ignore[no-untyped-def]
    llm, _ = models
    full = llm.generate("Count: one, two, three,", max_new_tokens=20)
    pieces = list(llm.stream("Count: one, two, three,", max_new_tokens=20))
    assert "".join(pieces) == full.text
    stop = full.text.strip()[:4]
    cut = llm.generate("Count: one, two, three,", max_new_tokens=20, stop=[stop])
    assert cut.finish_reason == "stop"
    assert cut.text == full.text[: full.text.find(stop)]


def test_chat_answers_with_stop_at_end_of_turn(models) -> None:  # type: ignore[no-untyped-def]
    llm, _ = models
    g = llm.generate("What is the capital of France?", chat=True, max_new_tokens=40)
    assert g.finish_reason == "stop"
    assert "Paris" in g.text
