"""The planner's arithmetic: KV bytes by hand, prefill/decode scaling, strategies, bad inputs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from planner.rates import (
    kv_bytes_per_token,
    parse_tokens,
    prefill_seconds,
    rates_for,
    resolve_model,
    total_params,
    weight_bytes,
)
from planner.strategies import plan


def test_kv_bytes_llama3_8b_by_hand() -> None:
    cfg = resolve_model("llama3-8b")
    assert kv_bytes_per_token(cfg, "bf16") == 2 * 32 * 8 * 128 * 2 == 131072
    assert kv_bytes_per_token(cfg, "fp32") == 2 * 32 * 8 * 128 * 4
    assert 128 * 1024 * kv_bytes_per_token(cfg) == 16 * 2**30  # 16 GiB at 128K


def test_kv_bytes_smollm2_by_hand() -> None:
    cfg = resolve_model("smollm2-135m")
    assert kv_bytes_per_token(cfg, "bf16") == 2 * 30 * 3 * 64 * 2 == 23040
    # int8/fp8 add one fp16 scale per token and head: 1 + 2/64 bytes an element, as measured (0.5156 of bf16)
    assert kv_bytes_per_token(cfg, "int8") / kv_bytes_per_token(cfg, "bf16") == pytest.approx(0.515625)


def test_weight_bytes_match_the_measured_llama3_8b() -> None:
    cfg = resolve_model("llama3-8b")
    assert weight_bytes(cfg, "bf16") == 16060522496  # kv_gpu_llama3_8b_speed.json weight_bytes
    assert 134e6 < total_params(resolve_model("smollm2-135m")) < 136e6


def test_ring_time_scales_with_efficiency() -> None:
    cfg, rates = resolve_model("llama3-8b"), rates_for("h200")
    t = 262144
    full = prefill_seconds(cfg, t, rates, 2, ring=True)
    half = prefill_seconds(cfg, t, replace(rates, ring_overlap=0.5), 2, ring=True)
    attn = full - prefill_seconds(cfg, t, replace(rates, ring_overlap=1e12), 2, ring=True)
    assert half - full == pytest.approx(attn, rel=1e-6)  # halving efficiency doubles the attention part
    four = prefill_seconds(cfg, t, rates, 4, ring=True)
    assert four == pytest.approx(full / 2, rel=1e-9)  # twice the GPUs, half the time at a fixed efficiency


def test_compression_ratio_divides_kv_bytes() -> None:
    base = {r.strategy: r for r in plan("llama3-8b", 131072, 1, ratio=4)}
    eight = {r.strategy: r for r in plan("llama3-8b", 131072, 1, ratio=8)}
    assert base["snapkv"].kv_bytes == base["full"].kv_bytes / 4
    assert eight["snapkv"].kv_bytes == base["full"].kv_bytes / 8
    assert eight["snapkv"].decode_tok_s > base["snapkv"].decode_tok_s  # compressed caches decode eagerly
    assert base["streaming"].kv_tokens == 4 + 4096
    assert base["hybrid"].kv_tokens == 12288 and base["hybrid"].prefill_s < base["full"].prefill_s


def test_plan_70b_1m_on_8_gpus() -> None:
    rows = {r.strategy: r for r in plan("llama3-70b", parse_tokens("1M"), 8, kv_dtype="fp8")}
    assert rows["ring"].gpus == 8 and rows["ring"].fits
    assert rows["ring"].prefill_s < rows["full"].prefill_s  # more GPUs share the quadratic attention
    fp8 = kv_bytes_per_token(resolve_model("llama3-70b"), "fp8")
    assert rows["full"].kv_bytes == 2**20 * fp8
    assert all(r.cost_per_1k is not None and r.cost_per_1k > 0 for r in rows.values())


def test_too_long_context_does_not_fit() -> None:
    rows = {r.strategy: r for r in plan("llama3-70b", parse_tokens("4M"), 1)}
    assert not rows["full"].fits and rows["full"].concurrent == 0 and rows["full"].cost_per_1k is None
    assert "does not fit" in rows["full"].note


def test_parse_tokens() -> None:
    assert parse_tokens("128K") == 131072 and parse_tokens("1M") == 1048576 and parse_tokens("8192") == 8192
    assert parse_tokens("1.5k") == 1536


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": "gpt-9"}, "llama3-8b"),
        ({"gpu": "tpu"}, "h200"),
        ({"kv_dtype": "int3"}, "fp8"),
        ({"ratio": 0.5}, "ratio"),
        ({"gpus": 0}, "gpus"),
        ({"price": -1.0}, "price"),
    ],
)
def test_bad_inputs_raise_with_the_valid_names(kwargs: dict, match: str) -> None:
    args = {"model": "llama3-8b", "context": 8192, "gpus": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        plan(**args)


def test_bad_token_counts_raise() -> None:
    for bad in ("lots", "0", "-5K"):
        with pytest.raises(ValueError, match="K/M suffix|positive"):
            parse_tokens(bad)


def test_hf_config_path(tmp_path: Path) -> None:
    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "vocab_size": 1000,
        "hidden_size": 256,
        "num_hidden_layers": 4,
        "num_attention_heads": 8,
        "num_key_value_heads": 2,
        "intermediate_size": 512,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    assert kv_bytes_per_token(resolve_model(str(path))) == 2 * 4 * 2 * 32 * 2
    assert kv_bytes_per_token(resolve_model(str(tmp_path))) == 2 * 4 * 2 * 32 * 2


def test_decode_step_floor_overlaps_on_one_gpu_and_adds_across_gpus() -> None:
    from planner.rates import decode_step_seconds

    cfg, rates = resolve_model("llama3-8b"), rates_for("h200")
    w, kv = weight_bytes(cfg), 131072 * kv_bytes_per_token(cfg)
    floor = cfg.n_layers * rates.step_overhead_s_per_layer
    memory = w / rates.hbm_bytes_per_s + kv / rates.kv_read_bytes_per_s
    assert decode_step_seconds(cfg, kv, rates, w) == pytest.approx(max(floor, memory))
    two = decode_step_seconds(cfg, kv, rates, w, gpus=2, weight_shards=1)
    comm = cfg.n_layers * rates.collective_s_per_hop  # one hop of the per-layer all-gather
    assert two == pytest.approx(floor + w / rates.hbm_bytes_per_s + kv / 2 / rates.kv_read_bytes_per_s + comm)


def test_replicas_are_powers_of_two() -> None:
    rows = plan("llama3-70b", parse_tokens("1M"), 8, kv_dtype="fp8")
    assert {r.gpus for r in rows} <= {1, 2, 4, 8}


def test_per_step_host_terms() -> None:
    """Per-layer host work joins the launch floor (it overlaps the device); a synchronizing framework's time adds."""
    from planner.rates import decode_step_seconds

    cfg, rates = resolve_model("smollm2-135m"), rates_for("h200")
    w = weight_bytes(cfg, "fp32")
    base = decode_step_seconds(cfg, 1e6, rates, w, backend="math")
    assert base == pytest.approx(30 * rates.step_overhead_math_s_per_layer)  # launch bound
    h2o = decode_step_seconds(cfg, 1e6, rates, w, backend="math", host_s_per_layer=rates.h2o_step_s_per_layer)
    assert h2o - base == pytest.approx(30 * rates.h2o_step_s_per_layer)
    big = resolve_model("llama3-8b")
    kv = 131072 * kv_bytes_per_token(big)
    mem = decode_step_seconds(big, kv, rates, weight_bytes(big))
    assert decode_step_seconds(big, kv, rates, weight_bytes(big), host_s_per_layer=1e-4) == mem  # hidden by memory
    assert decode_step_seconds(big, kv, rates, weight_bytes(big), sync_s=0.05) == pytest.approx(mem + 0.05)


def test_quantized_kv_decode_pays_the_dequantization_step() -> None:
    bf16 = {r.strategy: r for r in plan("llama3-8b", 8192, 1, kv_dtype="bf16")}
    int8 = {r.strategy: r for r in plan("llama3-8b", 8192, 1, kv_dtype="int8")}
    int4 = {r.strategy: r for r in plan("llama3-8b", 8192, 1, kv_dtype="int4")}
    assert int8["full"].kv_bytes < 0.52 * bf16["full"].kv_bytes
    assert "CUDA-graph" in int8["full"].note and "eager" in int4["full"].note  # per-token int8 is graph-decoded
    assert int4["hybrid"].decode_tok_s < bf16["hybrid"].decode_tok_s  # eager: dequantization adds launches
