"""Quantized KV: error bounds of quantize -> dequantize, stores that really hold fewer bytes, decoding quality."""

from __future__ import annotations

import pytest
import torch

from engine.kv import FORMATS, KVSpec, SnapKV, dequantize, quantize
from engine.kv.store import PlainStore, QuantStore
from engine.llm import LLM
from engine.weights import load_model
from tests.helpers.tiny import PROMPT


def _x(T: int = 64, D: int = 64, seed: int = 0) -> torch.Tensor:
    x = torch.randn(2, 3, T, D, generator=torch.Generator().manual_seed(seed))
    x[..., 5] *= 20  # an outlier channel, as real keys have
    return x


@pytest.mark.parametrize(("name", "axis"), [(n, a) for n, f in FORMATS.items() for a in {f.key_axis, f.value_axis}])
def test_kv_quantize_dequantize_error_bound(name: str, axis: str) -> None:
    fmt, x = FORMATS[name], _x()
    q = quantize(x, fmt, axis)
    err = (dequantize(q, fmt, axis, torch.float32) - x).abs()
    scale = q.scale.float()
    if axis == "channel":
        scale = scale.repeat_interleave(fmt.group, dim=2)
    if fmt.kind == "fp8":  # 3 mantissa bits: half an ulp is 1/16 relative; subnormals below 2^-6 scaled units
        bound = x.abs() / 16 + scale * 2.0**-9
    else:  # half a quantization step
        bound = scale * 0.5 * (1 + 1e-3) + 1e-6
    assert (err <= bound).all()
    assert err.max() > 0  # it is really quantized


def test_kv_quant_bytes_really_smaller() -> None:
    D = 64
    bf16 = 2 * D * 2
    assert FORMATS["int8"].bytes_per_token(D) / bf16 == pytest.approx(0.516, abs=0.01)
    assert FORMATS["int4"].bytes_per_token(D) / bf16 < 0.3
    stores = {"bf16": PlainStore(1, 1, 2, 2048, D, torch.bfloat16, torch.float32, "cpu")}
    stores |= {n: QuantStore(1, 1, 2, 2048, D, FORMATS[n], torch.float32, "cpu") for n in ("int8", "fp8", "int4")}
    x = torch.randn(1, 2, 2048, D)
    for s in stores.values():
        s.append(0, x, x)
    b = {n: s.used_bytes() for n, s in stores.items()}
    assert b["int8"] < 0.53 * b["bf16"] and b["fp8"] == b["int8"]
    assert b["int4"] < 0.4 * b["bf16"]  # includes the 64-token full-precision residual
    assert stores["int8"].alloc_bytes() < 0.6 * stores["bf16"].alloc_bytes()


@pytest.mark.parametrize("name", FORMATS)
def test_kv_quant_store_append_read_and_exact_recent_window(name: str) -> None:
    fmt = FORMATS[name]
    store = QuantStore(2, 1, 2, 300, 64, fmt, torch.float32, "cpu")
    x = _x(T=200)[:1, :2]
    got, before = None, 0
    for a, b in ((0, 37), (37, 100), (100, 101), (101, 200)):  # chunks and decode-sized writes
        before = store.nq[1]
        got, _ = store.append(1, x[:, :, a:b], x[:, :, a:b])
        assert torch.equal(got[:, :, a:b], x[:, :, a:b])  # the tokens just written are returned exact
    k, v = store.read(1)
    assert got is not None and before > 0 and torch.equal(k[:, :, :before], got[:, :, :before]) and store.n == [0, 200]
    tail = store.nt[1]
    assert tail >= fmt.residual and torch.equal(k[:, :, 200 - tail:], x[:, :, 200 - tail:])
    steps = {4: 7, 8: 8 if fmt.kind == "fp8" else 127}[fmt.bits]  # fp8: 1/16 relative
    assert (k - x).abs().max() <= 0.5 * x.abs().max() / steps


def test_kv_quantized_cache_stays_close_to_full() -> None:
    model = load_model("synthetic:tiny-llama3", max_seq_len=256)
    with torch.no_grad():  # weights x6: a model that is not flat, yet not chaotic
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(6)
    ids, probs = torch.tensor([PROMPT]), {}
    for dtype in ("model", "bf16", "int8", "int8-channel", "fp8", "int4"):
        cache = KVSpec(dtype=dtype).make_cache(model.config, prompt_len=100, total=100, chunk=32,
                                               dtype=torch.float32, device="cpu")
        with torch.inference_mode():
            model(ids[:, :90], 0, cache)
            probs[dtype] = torch.cat([model(ids[:, t:t + 1], t, cache) for t in range(90, 100)], dim=1).softmax(-1)
    # total variation distance between the next-token distributions with full-precision and stored KV
    tv = {d: float((p - probs["model"]).abs().sum(-1).max() / 2) for d, p in probs.items()}
    assert tv["model"] == 0 and tv["bf16"] < tv["int8"] < tv["int4"] < 0.08
    assert tv["int8"] < 0.01 and tv["int8-channel"] < 0.01 and tv["fp8"] < 0.05


def test_kv_generate_reports_bytes_for_policy_and_dtype(tiny_llm: LLM) -> None:
    plain = tiny_llm.generate(PROMPT, max_new_tokens=5)
    both = tiny_llm.generate(PROMPT, max_new_tokens=5, kv_policy=KVSpec(SnapKV(ratio=2.0), dtype="int8"))
    stats = both.kv_stats
    assert stats["kv_dtype"] == "int8" and stats["policy"] == "snapkv" and both.kv_bytes == stats["kv_bytes"]
    assert both.kv_bytes < plain.kv_bytes / 6  # fp32 -> int8 (~3.8x) and half the tokens
    assert plain.kv_stats == {}  # a plain request keeps the engine's own cache
