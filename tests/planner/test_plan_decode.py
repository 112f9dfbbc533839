"""Decode terms: the sharded decode's per-layer collective, CUDA-graph decode, the engine and domain readers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from planner.rates import decode_step_seconds, kv_bytes_per_token, rates_for, resolve_model, weight_bytes
from planner.strategies import plan
from planner.validate.domain import kv_domain
from planner.validate.gpu import compressed_decode, engine_gpu
from planner.validate.run import validate

RESULTS = Path(__file__).resolve().parents[2] / "eval" / "results"
CFG, RATES = resolve_model("llama3-8b"), rates_for("h200")
W, PER_TOK = weight_bytes(CFG), kv_bytes_per_token(CFG)


def test_collective_grows_with_hops() -> None:
    kv = 131072 * PER_TOK
    steps = {n: decode_step_seconds(CFG, kv, RATES, W, gpus=n, weight_shards=1) for n in (2, 4, 8)}
    for n, t in steps.items():
        memory = W / RATES.hbm_bytes_per_s + kv / n / RATES.kv_read_bytes_per_s
        floor = CFG.n_layers * RATES.step_overhead_s_per_layer
        assert t == pytest.approx(floor + memory + CFG.n_layers * (n - 1) * RATES.collective_s_per_hop)
    one = decode_step_seconds(CFG, kv, RATES, W)
    assert one == pytest.approx(
        max(CFG.n_layers * RATES.step_overhead_s_per_layer, W / RATES.hbm_bytes_per_s + kv / RATES.kv_read_bytes_per_s)
    )  # no collective on one GPU


def test_graph_decode_is_floor_plus_memory() -> None:
    kv = (32768 + 32) * PER_TOK
    graph = decode_step_seconds(CFG, kv, RATES, W, graph=True)
    memory = W / RATES.hbm_bytes_per_s + kv / RATES.graph_kv_read_bytes_per_s
    want = CFG.n_layers * RATES.graph_step_s_per_layer + memory
    assert graph == pytest.approx(want)
    assert graph < decode_step_seconds(CFG, kv, RATES, W) / 2  # no launch floor, no expanded KV
    assert RATES.graph_step_s_per_layer < RATES.step_overhead_s_per_layer / 5
    with pytest.raises(ValueError, match="decode eagerly"):
        decode_step_seconds(CFG, kv, RATES, W, graph=True, host_s_per_layer=1e-4)


def test_strategies_pick_graph_or_eager() -> None:
    rows = {r.strategy: r for r in plan("llama3-8b", 131072, 1, output_tokens=256)}
    graph = decode_step_seconds(CFG, (131072 + 128) * PER_TOK, RATES, W, graph=True)
    assert 1 / rows["full"].decode_tok_s == pytest.approx(graph)  # the kernel reads KV up to the position
    assert all("CUDA-graph decode" in rows[k].note for k in ("full", "hybrid", "snapkv", "streaming"))
    assert "eager decode" in rows["ring"].note
    int8 = {r.strategy: r for r in plan("llama3-8b", 131072, 1, kv_dtype="int8")}
    assert "CUDA-graph" in int8["full"].note  # per-token int8 codes are written and read by the graph's kernels
    int4 = {r.strategy: r for r in plan("llama3-8b", 131072, 1, kv_dtype="int4")}
    assert "eager" in int4["full"].note  # the other quantized layouts keep a full-precision tail: eager


def _engine_file(tmp_path: Path) -> Path:
    rows = [
        {"context": t, "prefill_tok_s": 1e4, "decode_tok_s": 100.0, "hf_prefill_tok_s": 1e4, "hf_decode_tok_s": 9.0}
        for t in (8192, 32768, 131072)
    ]
    variants = {"context": 32768, "decode_tok_s_graph": 60.0, "decode_mode_used_graph": "graph"}
    data = {
        "model": "synthetic:llama3-8b",
        "device": "cuda",
        "dtype": "torch.bfloat16",
        "decode_tokens": 32,
        "rows": rows,
        "variants": variants,
    }
    path = tmp_path / "engine_gpu.json"
    path.write_text(json.dumps(data))
    return path


def test_engine_reader_roles_and_kv_to_the_position(tmp_path: Path) -> None:
    rows, skipped = engine_gpu(_engine_file(tmp_path), RATES)
    roles = {(r["what"], r["context"], r["detail"]): r["role"] for r in rows}
    assert roles[("prefill_s", 32768, "longhaul chunked prefill")] == "calibrate"
    assert roles[("prefill_s", 8192, "longhaul chunked prefill")] == "validate"
    graph = [r["role"] for r in rows if r["detail"] == "CUDA graph, KV to the position"]
    assert graph == ["validate", "calibrate", "calibrate"]
    variant = next(r for r in rows if "run's cache" in r["detail"])
    same = next(r for r in rows if r["context"] == 32768 and r["what"] == "decode_s" and r is not variant)
    # the kernel stops at the position: a 32K prompt in the 128K cache reads what a 32K cache holds
    assert variant["predicted"] == same["predicted"] and variant["role"] == "validate"
    assert skipped and "hf_decode" in skipped[0]["source"]


@pytest.mark.skipif(not (RESULTS / "ring_gpu4.json").is_file(), reason="needs eval/results/ring_gpu4.json")
def test_collective_calibrated_on_four_gpus_validates_on_two() -> None:
    out = validate(RESULTS)
    sharded = [r for r in out["rows"] if r["what"] == "decode_s" and r["gpus"] > 1]
    assert [r["role"] for r in sharded if r["gpus"] == 4] == ["calibrate"]
    two = [r for r in sharded if r["gpus"] == 2]
    assert two and all(r["role"] == "validate" and abs(r["err_pct"]) <= 20 for r in two)
    graph = [r for r in out["rows"] if r["source"] == "engine_gpu.json" and "CUDA graph" in r["detail"]]
    assert any(r["role"] == "validate" for r in graph) and all(abs(r["err_pct"]) <= 20 for r in graph)


def _domain_file(tmp_path: Path, with_counts: bool = True) -> Path:
    per_tok = kv_bytes_per_token(resolve_model("smollm2-135m"), "fp32")
    lengths, new = [1962, 2046, 2001], 35
    items = [{"n_tokens": n, "question_tokens": 40} for n in lengths] if with_counts else [{"qid": "x"}] * 3

    def mean_bytes(kept: list[int]) -> float:
        return sum(k + new for k in kept) * per_tok / len(kept)

    rows = [
        {
            "policy": "full",
            "ratio": 1.0,
            "kv_dtype": "model",
            "question": "inside",
            "n": 3,
            "budget": 2048,
            "model": "tuned",
            "kv_bytes_mean": mean_bytes(lengths),
        },
        {
            "policy": "snapkv",
            "ratio": 8.0,
            "kv_dtype": "model",
            "question": "inside",
            "n": 3,
            "budget": 2048,
            "model": "tuned",
            "kv_bytes_mean": mean_bytes([math.ceil(n / 8) for n in lengths]),
        },
        {
            "policy": "snapkv",
            "ratio": 4.0,
            "kv_dtype": "model",
            "question": "outside",
            "n": 3,
            "budget": 2048,
            "model": "tuned",
            "kv_bytes_mean": mean_bytes([math.ceil((n - 40) / 4) + 40 for n in lengths]),
        },
    ]
    path = tmp_path / "kv_cpu_domain.json"
    path.write_text(
        json.dumps({"device": "cpu", "compute_dtype": "float32", "rows": rows, "domain_items": {"2048": items}})
    )
    return path


def test_domain_bytes_per_item_are_exact(tmp_path: Path) -> None:
    rows, skipped = kv_domain(_domain_file(tmp_path), RATES, {})
    assert not skipped and [r["role"] for r in rows] == ["calibrate", "validate", "validate"]
    assert all(abs(r["err_pct"]) < 1e-6 for r in rows)  # the mean token count would be off at 8x


def test_domain_without_token_counts_is_skipped(tmp_path: Path) -> None:
    rows, skipped = kv_domain(_domain_file(tmp_path, with_counts=False), RATES, {})
    assert rows == [] and "per-item token counts" in skipped[0]["why"]


def test_compressed_decode_reader_holds_out_graph_rows(tmp_path: Path) -> None:
    kv = 4 * 1024**3
    row_ = {"context": 32768, "full": {"decode_tok_s": 150.0, "kv_bytes": kv},
            "snapkv4x_graph": {"decode_tok_s": 170.0, "kv_bytes": kv // 4},
            "snapkv4x_eager": {"decode_tok_s": 30.0, "kv_bytes": kv // 4}}
    path = tmp_path / "compressed_decode_gpu.json"
    path.write_text(json.dumps({"model": "synthetic:llama3-8b", "dtype": "bf16", "rows": [row_]}))
    rows, skipped = compressed_decode(path, RATES)
    assert [r["detail"] for r in rows] == ["CUDA graph, full", "CUDA graph, snapkv4x_graph"]
    assert all(r["role"] == "validate" for r in rows)
    assert rows[1]["predicted"] < rows[0]["predicted"]  # fewer KV bytes, a shorter step
    assert len(skipped) == 1 and "snapkv4x_eager" in skipped[0]["source"]
