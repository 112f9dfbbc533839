"""The paged split-KV decode kernel (engine/paged_kernel.py), interpreted on this CPU, against gathering each
sequence's blocks and attending with the torch reference; and a whole batch decode of a tiny model through it."""

from __future__ import annotations

import math
import os

import pytest
import torch

from engine import attention as attn_mod
from engine.attention import attention
from engine.llm import LLM
from engine.llm_engine import EngineConfig
from engine.sequence import SamplingParams
from engine.tokenizer import load_tokenizer
from tests.helpers.tiny import loud_tiny_model


@pytest.fixture()
def on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    assert os.environ.get("TRITON_INTERPRET") == "1", "tests/conftest.py sets TRITON_INTERPRET=1"
    monkeypatch.setattr(attn_mod, "KERNELS_ON_CPU", True)


@pytest.mark.parametrize(("H", "hkv", "D", "page", "lens"), [
    (8, 2, 64, 64, [1, 70, 300]), (9, 3, 32, 16, [5, 129, 64, 2]), (4, 4, 16, 128, [200])])
def test_paged_decode_matches_reference(on_cpu: None, H: int, hkv: int, D: int, page: int, lens: list[int]) -> None:
    from engine.paged_kernel import paged_decode_attention

    g = torch.Generator().manual_seed(len(lens) * D)
    n_blocks = sum(-(-n // page) for n in lens) + 3
    k_pool, v_pool = (torch.randn(n_blocks, page, hkv, D, generator=g) for _ in range(2))
    perm = torch.randperm(n_blocks, generator=g).tolist()  # blocks scattered over the pool
    width = max(-(-n // page) for n in lens)
    tables, a = [], 0
    for n in lens:
        nb = -(-n // page)
        tables.append(perm[a:a + nb] + [perm[-1]] * (width - nb))
        a += nb
    q = torch.randn(len(lens), H, 1, D, generator=g)
    out = paged_decode_attention(q, k_pool, v_pool, torch.tensor(tables, dtype=torch.int32),
                                 torch.tensor(lens, dtype=torch.int32), 1 / math.sqrt(D))
    for b, n in enumerate(lens):
        blocks = torch.tensor(tables[b][: -(-n // page)])
        k = k_pool[blocks].reshape(-1, hkv, D)[:n].transpose(0, 1)[None]
        v = v_pool[blocks].reshape(-1, hkv, D)[:n].transpose(0, 1)[None]
        ref, _ = attention(q[b:b + 1], k, v, causal=False, backend="math")
        torch.testing.assert_close(out[b:b + 1], ref, atol=1e-4, rtol=1e-4)


def test_batch_decode_through_the_kernel(on_cpu: None) -> None:
    llm = LLM(loud_tiny_model("tiny-llama3", max_seq_len=256), load_tokenizer(), max_seq_len=256)
    prompts = [[(5 * i + s) % 256 for i in range(n)] for s, n in enumerate((12, 70, 33))]
    params = SamplingParams(max_tokens=10, ignore_eos=True)
    refs = [llm.generate(p, max_new_tokens=10, ignore_eos=True).token_ids for p in prompts]
    llm.serving(EngineConfig(kv_blocks=32, block_size=16, max_num_seqs=4, max_num_batched_tokens=128))
    assert [g.token_ids for g in llm.generate_batch(prompts, params)] == refs
