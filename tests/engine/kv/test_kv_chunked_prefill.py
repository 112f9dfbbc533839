"""Compression between prefill chunks attends exactly as a mask over the full sequence would (StreamingLLM)."""

from __future__ import annotations

import math

import pytest
import torch

import engine.model
from engine.kv import KVSpec, StreamingLLM
from engine.weights import load_model


def test_kv_chunked_compression_equals_masked_full_attention(monkeypatch: pytest.MonkeyPatch) -> None:
    model = load_model("synthetic:tiny-llama3", max_seq_len=256)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(6)
    ids = torch.randint(0, 256, (1, 80), generator=torch.Generator().manual_seed(0))
    spec = KVSpec(StreamingLLM(budget=20, n_sink=4, window=0, when="chunks"))
    cache = spec.make_cache(model.config, prompt_len=80, total=80, chunk=50, dtype=torch.float32, device="cpu")
    with torch.inference_mode():
        model(ids[:, :50], 0, cache)
        got = model(ids[:, 50:], 50, cache)  # chunk 2 sees sinks 0-3 and tokens 34-49 of chunk 1, then itself
    assert cache.store.n == [50, 50]  # 20 kept + 30 new, on each layer

    visible = torch.tril(torch.ones(80, 80, dtype=torch.bool))
    visible[50:, 4:34] = False

    def masked(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *_: object) -> torch.Tensor:
        k, v = (t.repeat_interleave(q.shape[1] // k.shape[1], dim=1) for t in (k, v))
        s = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).masked_fill(~visible, float("-inf"))
        return s.softmax(-1) @ v

    monkeypatch.setattr(engine.model, "attend", masked)
    with torch.inference_mode():
        ref = model(ids)[:, 50:]
    torch.testing.assert_close(got, ref, atol=1e-4, rtol=1e-4)
