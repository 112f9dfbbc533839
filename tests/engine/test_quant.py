"""Quantized CPU weights (engine/quant.py, engine/csrc/): block formats against gguf's reference, the AVX2 kernels
against torch math on random weights, the fused decode step against the per-op model, and the errors.

Tolerances: the GEMV kernel quantizes its input to int8 blocks of 32 (as llama.cpp does), so it matches
``x @ dequantize(W).T`` to about 0.5% relative (bound 2%); attention over an fp16 cache matches fp32 softmax attention
over the same fp16 values to 1e-5.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine import cpu_kernels
from engine.cpu_step import FusedCPUStep, fused_step_supported
from engine.kv.cache import KVCache
from engine.llm import LLM
from engine.quant import FORMATS, QuantLinear, dequantize, quantize, quantize_model
from engine.tokenizer import load_tokenizer
from tests.helpers.tiny import PROMPT, loud_tiny_model

pytestmark = pytest.mark.skipif(cpu_kernels.unsupported_reason() is not None, reason="no AVX2/F16C or no compiler")
GGUF_TYPES = {"q8_0": "Q8_0", "q4_1": "Q4_1"}


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().norm() / b.detach().norm())


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_blocks_are_ggufs(fmt: str) -> None:
    """Our blocks decode the same under gguf's reference dequantizer, the torch one and the C++ one."""
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize as gguf_dequantize

    w = torch.randn(40, 96, generator=torch.Generator().manual_seed(1))
    blocks = quantize(w, fmt)
    ours = dequantize(blocks, fmt)
    theirs = gguf_dequantize(blocks.numpy(), GGMLQuantizationType[GGUF_TYPES[fmt]]).reshape(40, 96)
    assert torch.equal(ours, torch.from_numpy(np.ascontiguousarray(theirs)))
    assert torch.equal(cpu_kernels.kernels().dequantize(blocks, FORMATS[fmt]), ours)
    assert rel(ours, w) < (0.01 if fmt == "q8_0" else 0.1)


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("rows", [1, 5])
def test_gemv_matches_dequantized_matmul(fmt: str, rows: int) -> None:
    gen = torch.Generator().manual_seed(rows)
    w, x = torch.randn(257, 576, generator=gen), torch.randn(rows, 576, generator=gen)
    blocks = quantize(w, fmt)
    y = cpu_kernels.kernels().gemv(x, blocks, FORMATS[fmt])
    assert y.shape == (rows, 257)
    assert rel(y, x @ dequantize(blocks, fmt).T) < 0.02


def test_quant_linear_decode_and_prefill_paths() -> None:
    """A few rows go through the kernel, many through the dequantized matmul; both agree with the reference."""
    lin = torch.nn.Linear(64, 48, bias=True)
    q = QuantLinear.of(lin, "q4_1")
    ref_w = dequantize(q.blocks, "q4_1")
    for rows in (1, 40):
        x = torch.randn(rows, 64)
        assert rel(q(x), x @ ref_w.T + lin.bias) < 0.02


@pytest.mark.parametrize("n", [1, 7, 600, 4099])
def test_decode_attention_matches_softmax(n: int) -> None:
    gen = torch.Generator().manual_seed(n)
    h, hkv, d, cap = 9, 3, 64, 4200
    q = torch.randn(h, d, generator=gen)
    k, v = torch.randn(hkv, cap, d, generator=gen).half(), torch.randn(hkv, cap, d, generator=gen).half()
    out = cpu_kernels.kernels().decode_attention(q, k, v, n, d**-0.5)
    kk, vv = k[:, :n].float().repeat_interleave(3, 0), v[:, :n].float().repeat_interleave(3, 0)
    ref = (torch.softmax(q[:, None] @ kk.transpose(1, 2) * d**-0.5, -1) @ vv)[:, 0]
    assert (out - ref).abs().max() < 1e-5


@pytest.mark.parametrize("name", ["tiny-llama3", "tiny-qwen2", "tiny-mistral"])
@pytest.mark.parametrize("weights", ["int8", "q4"])
def test_fused_step_matches_per_op_model(name: str, weights: str) -> None:
    """The one-call decode step computes what the model's own forward computes with the same QuantLinear weights and
    the same fp16 cache (the kernels' activation rounding is the same in both)."""
    model = quantize_model(loud_tiny_model(name), weights)
    cfg = model.config
    caches = [KVCache(cfg.n_layers, cfg.n_kv_heads, cfg.head_dim, 128, dtype=torch.float16) for _ in range(2)]
    assert fused_step_supported(model, caches[0])
    ids = torch.tensor([PROMPT[:40]])
    with torch.inference_mode():
        for c in caches:
            model(ids, 0, c)
        step = FusedCPUStep(model, caches[0])
        for pos in range(40, 44):
            tok = torch.tensor([PROMPT[pos]])
            ours = step(tok, pos)
            ref = model(tok.view(1, 1), pos, caches[1], last_only=True)[:, -1]
            assert rel(ours, ref) < 1e-3, (pos, rel(ours, ref))
    assert torch.allclose(caches[0].k[:, :, :, :44].float(), caches[1].k[:, :, :, :44].float(), atol=2e-3)


@pytest.mark.parametrize("weights", ["int8", "q4"])
def test_quantized_llm_generates_like_its_dequantized_reference(weights: str) -> None:
    """LLM.generate on quantized weights (fused step) vs the fp32 model carrying the dequantized weights: the logits
    of the prompt agree within the activation-quantization error, and the KV cache is fp16."""
    fp32, quant = loud_tiny_model(), quantize_model(loud_tiny_model(), weights)
    with torch.no_grad():
        for b_ref, b_q in zip(fp32.layers, quant.layers, strict=True):
            for name in ("wqkv", "wo"):
                getattr(b_ref.attn, name).weight.copy_(getattr(b_q.attn, name).weight_fp32())
            for name in ("w13", "w2"):
                getattr(b_ref.mlp, name).weight.copy_(getattr(b_q.mlp, name).weight_fp32())
        fp32.lm_head.weight = torch.nn.Parameter(quant.lm_head.weight_fp32())
    with torch.inference_mode():
        long, short = torch.tensor([PROMPT[:40]]), torch.tensor([PROMPT[:8]])
        # many rows: the dequantized fp32 matmul in every block; only the LM head (one row) rounds its input
        assert rel(quant(long, last_only=True), fp32(long, last_only=True)) < 0.02
        assert rel(quant.layers[0].mlp.w13(torch.ones(1, 40, 64)), fp32.layers[0].mlp.w13(torch.ones(1, 40, 64))) < 1e-5
        # few rows: the int8-activation kernel; this tiny model's weights are 20x loud, so its error compounds
        # more than a real model's (per matrix ~0.5%)
        assert rel(quant(short, last_only=True), fp32(short, last_only=True)) < 0.1
    llm = LLM(quant, load_tokenizer(), max_seq_len=256, kv_dtype=torch.float16)
    g = llm.generate(PROMPT, max_new_tokens=12, ignore_eos=True)
    assert len(g.token_ids) == 12 and llm._cache is not None and llm._cache.k.dtype == torch.float16
    ref = LLM(fp32, load_tokenizer(), max_seq_len=256).generate(PROMPT, max_new_tokens=12, ignore_eos=True)
    assert g.token_ids[:3] == ref.token_ids[:3]


def test_bad_weights_options() -> None:
    with pytest.raises(ValueError, match="choose one of fp32, int8, q4"):
        LLM.load("synthetic:tiny-llama3", weights="q3")
    with pytest.raises(ValueError, match="blocks of 32"):
        quantize(torch.zeros(4, 40), "q8_0")
    with pytest.raises(ValueError, match="supported are q8_0, q4_1"):
        quantize(torch.zeros(4, 64), "q5_0")


def test_machine_without_the_kernels_gets_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_kernels, "cpu_flags", lambda: {"sse2"})
    assert "avx2, fma, f16c" in str(cpu_kernels.unsupported_reason())
    monkeypatch.setattr(cpu_kernels, "kernels", cpu_kernels.kernels.__wrapped__)
    with pytest.raises(ValueError, match="weights='int8' cannot run on this machine.*lacks avx2"):
        quantize_model(loud_tiny_model(), "int8")


def test_unreadable_gguf_type_names_it(tmp_path: Path) -> None:
    import gguf

    path = tmp_path / "odd.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    for key, value in {"block_count": 1, "embedding_length": 64, "feed_forward_length": 128, "context_length": 64,
                       "attention.head_count": 4, "vocab_size": 256}.items():
        w.add_uint32(f"llama.{key}", value)
    w.add_tensor("blk.0.attn_q.weight", np.zeros((64, 80), dtype=np.uint8),
                 raw_dtype=gguf.GGMLQuantizationType.Q8_1)  # 64 x 64 weights in 40-byte blocks of 32
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    from engine.weights import read_gguf

    with pytest.raises(ValueError, match="blk.0.attn_q.weight is Q8_1, a quantization type we cannot read: "
                                         "supported are F32, F16, Q4_0"):
        read_gguf(path)
