"""The Triton decode kernels (engine/decode_kernel.py), run by Triton's interpreter on this CPU, against the torch
reference: split-KV attention with and without a device-side position, the fused rotate-and-write, and whole
static decodes of tiny Llama 3, Qwen2 and Mistral models through them."""

from __future__ import annotations

import math
import os
from types import ModuleType

import pytest
import torch

from engine import attention as attn_mod
from engine.attention import _gqa_single
from engine.llm import LLM
from engine.rope import apply_rotary
from engine.tokenizer import load_tokenizer
from tests.helpers.tiny import loud_tiny_model


@pytest.fixture()
def kernels(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The kernel module, interpreted on this CPU (tests/conftest.py sets TRITON_INTERPRET=1 before any import)."""
    assert os.environ.get("TRITON_INTERPRET") == "1", "tests/conftest.py sets TRITON_INTERPRET=1"
    monkeypatch.setattr(attn_mod, "KERNELS_ON_CPU", True)
    mod = attn_mod.decode_kernels(torch.empty(1))
    assert mod is not None, "triton is a dev dependency: `make install` installs it"
    return mod


@pytest.mark.parametrize(("B", "H", "hkv", "T", "D", "pos"), [
    (1, 8, 2, 300, 64, None), (2, 12, 4, 1000, 64, 517), (1, 32, 8, 2048, 128, 1999), (1, 4, 4, 5, 16, 0),
    (1, 9, 3, 70, 32, 69), (1, 16, 1, 130, 64, 64), (1, 8, 2, 3000, 64, 3)])
def test_split_attention_matches_reference(kernels: ModuleType, B: int, H: int, hkv: int, T: int, D: int,
                                           pos: int | None) -> None:
    g = torch.Generator().manual_seed(T)
    q, k, v = (torch.randn(B, n, t, D, generator=g) for n, t in ((H, 1), (hkv, T), (hkv, T)))
    p = None if pos is None else torch.tensor(pos)
    out = kernels.decode_attention(q, k, v, 1 / math.sqrt(D), p)
    ref, _ = _gqa_single(q, k, v, 1 / math.sqrt(D), p)
    torch.testing.assert_close(out, ref, atol=2e-6, rtol=1e-5)
    assert kernels.n_splits(B, hkv, T, q.device) > 1 or T <= kernels.BLOCK  # the slices really split


def test_keys_after_the_position_are_never_read(kernels: ModuleType) -> None:
    q, k, v = torch.randn(1, 4, 1, 32), torch.randn(1, 2, 200, 32), torch.randn(1, 2, 200, 32)
    k[:, :, 41:], v[:, :, 41:] = float("nan"), float("nan")  # garbage past the position must not leak in
    out = kernels.decode_attention(q, k, v, 0.2, torch.tensor(40))
    ref, _ = _gqa_single(q, k[:, :, :41], v[:, :, :41], 0.2)
    torch.testing.assert_close(out, ref, atol=2e-6, rtol=1e-5)


def test_rope_write_matches_rotary_and_index_copy(kernels: ModuleType) -> None:
    B, H, hkv, D, T, pos = 2, 12, 4, 64, 20, 13
    qkv, cos, sin = torch.randn(B, 1, (H + 2 * hkv) * D), torch.randn(1, D), torch.randn(1, D)
    kc, vc = torch.zeros(B, hkv, T, D), torch.zeros(B, hkv, T, D)
    kr, vr = kc.clone(), vc.clone()
    q = kernels.rope_write(qkv, cos, sin, torch.tensor(pos), kc, vc, H)
    qk, v = qkv.split([(H + hkv) * D, hkv * D], -1)
    qk = apply_rotary(qk.view(B, 1, H + hkv, D).transpose(1, 2), cos, sin)
    kr[:, :, pos], vr[:, :, pos] = qk[:, H:, 0], v.view(B, hkv, D)
    torch.testing.assert_close(q, qk[:, :H], atol=1e-6, rtol=1e-6)
    assert torch.equal(vc, vr) and torch.allclose(kc, kr, atol=1e-6)


def test_bad_shapes_get_a_clear_error(kernels: ModuleType) -> None:
    with pytest.raises(ValueError, match="power-of-two head dim"):
        kernels.decode_attention(torch.randn(1, 4, 1, 48), torch.randn(1, 2, 8, 48), torch.randn(1, 2, 8, 48), 1.0)
    assert not kernels.supports(40, 2, 64) and kernels.supports(32, 8, 128)


@pytest.mark.parametrize("name", ["tiny-llama3", "tiny-qwen2", "tiny-mistral"])
def test_static_decode_through_the_kernels_equals_eager(kernels: ModuleType, name: str) -> None:
    model = loud_tiny_model(name, max_seq_len=128)
    tok = load_tokenizer()
    prompt = [(7 * i + 3) % 256 for i in range(45)]
    calls = {"n": 0}
    real = kernels.decode_attention

    def counted(*args: object, **kw: object) -> torch.Tensor:
        calls["n"] += 1
        return real(*args, **kw)

    kernels.decode_attention = counted
    try:
        static = LLM(model, tok, max_seq_len=128, decode_mode="static").generate(prompt, max_new_tokens=10)
    finally:
        kernels.decode_attention = real
    attn_mod.DECODE_KERNELS = False
    try:
        plain = LLM(model, tok, max_seq_len=128, decode_mode="static").generate(prompt, max_new_tokens=10)
    finally:
        attn_mod.DECODE_KERNELS = True
    eager = LLM(model, tok, max_seq_len=128).generate(prompt, max_new_tokens=10)
    assert calls["n"] >= 9 * model.config.n_layers  # the kernels ran, layer by layer, every step
    assert static.token_ids == plain.token_ids == eager.token_ids


@pytest.mark.parametrize("pos", [0, 1, 200, 299])
def test_int8_split_attention_matches_dequantized_reference(kernels: ModuleType, pos: int) -> None:
    """Codes before ``pos`` dequantized by their scales, the token at ``pos`` in full precision (as eager)."""
    from engine.kv.quant import FORMATS, QBlock, dequantize, quantize

    fmt, g = FORMATS["int8"], torch.Generator().manual_seed(pos)
    q, k, v = (torch.randn(1, n, t, 64, generator=g) for n, t in ((8, 1), (2, 300), (2, 300)))
    k_cur, v_cur = torch.randn(1, 2, 1, 64, generator=g), torch.randn(1, 2, 1, 64, generator=g)
    qk, qv = quantize(k, fmt, "token"), quantize(v, fmt, "token")
    out = kernels.decode_attention(q, qk.data, qv.data, 0.125, torch.tensor(pos), qk.scale, qv.scale, k_cur, v_cur)

    def upto(b: QBlock, cur: torch.Tensor) -> torch.Tensor:
        old = dequantize(QBlock(b.data[:, :, :pos], b.scale[:, :, :pos]), fmt, "token", torch.float32)
        return torch.cat([old, cur], 2)

    ref, _ = _gqa_single(q, upto(qk, k_cur), upto(qv, v_cur), 0.125)
    torch.testing.assert_close(out, ref, atol=2e-6, rtol=1e-5)


def test_rope_write_int8_matches_rotary_and_quantize(kernels: ModuleType) -> None:
    from engine.kv.quant import FORMATS, quantize

    B, H, hkv, D = 1, 8, 2, 64
    qkv, cos, sin = 3 * torch.randn(B, 1, (H + 2 * hkv) * D), torch.randn(1, D), torch.randn(1, D)
    codes = [torch.zeros(B, hkv, 20, D, dtype=torch.int8) for _ in "kv"]
    scales = [torch.zeros(B, hkv, 20, 1, dtype=torch.float16) for _ in "kv"]
    q, k_cur, v_cur = kernels.rope_write_int8(qkv, cos, sin, torch.tensor(7), *codes, *scales, H)
    qk, v = qkv.split([(H + hkv) * D, hkv * D], -1)
    rot = apply_rotary(qk.view(B, 1, H + hkv, D).transpose(1, 2), cos, sin)
    k, v = rot[:, H:], v.view(B, 1, hkv, D).transpose(1, 2)
    torch.testing.assert_close(q, rot[:, :H], atol=1e-6, rtol=1e-6)
    assert torch.equal(k_cur, k) and torch.equal(v_cur, v)
    for buf, sc, x in zip(codes, scales, (k, v), strict=True):
        ref = quantize(x, FORMATS["int8"], "token")
        assert torch.equal(buf[:, :, 7:8], ref.data) and torch.equal(sc[:, :, 7:8], ref.scale)
        assert not buf[:, :, :7].any() and not buf[:, :, 8:].any()


@pytest.mark.parametrize("dtype", ["model", "int8"])
def test_compressed_static_decode_through_the_kernels_equals_eager(kernels: ModuleType, dtype: str) -> None:
    """A SnapKV cache decoded with static shapes: each layer's slot is its compressed length, not the position."""
    from engine.kv import KVSpec, make_policy

    model = loud_tiny_model("tiny-llama3", max_seq_len=256)
    tok, prompt = load_tokenizer(), [(11 * i + 5) % 256 for i in range(120)]
    spec = KVSpec(make_policy("snapkv", ratio=4.0), dtype=dtype)
    static = LLM(model, tok, max_seq_len=256, decode_mode="static").generate(prompt, max_new_tokens=10,
                                                                             kv_policy=spec, ignore_eos=True)
    eager = LLM(model, tok, max_seq_len=256).generate(prompt, max_new_tokens=10, kv_policy=spec, ignore_eos=True)
    assert static.token_ids == eager.token_ids and static.kv_bytes == eager.kv_bytes
