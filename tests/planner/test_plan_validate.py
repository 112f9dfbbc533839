"""`--validate`: predictions against the measured results, with calibrate / validate / excluded roles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planner.validate.run import validate

RESULTS = Path(__file__).resolve().parents[2] / "eval" / "results"


def _ring_file(tmp_path: Path) -> Path:
    """A copy of the ring result with its 1-GPU 256K prefill doubled: validation must notice."""
    src = json.loads((RESULTS / "ring_gpu.json").read_text())
    src["model"]["262144"]["t1_s"] *= 2
    (tmp_path / "ring_gpu.json").write_text(json.dumps(src))
    return tmp_path


@pytest.mark.skipif(not (RESULTS / "ring_gpu.json").is_file(), reason="needs eval/results/ring_gpu.json")
def test_validate_on_the_measured_results() -> None:
    out = validate(RESULTS)
    assert out["n_validate"] > 10 and out["n_calibrate"] > 0
    bytes_rows = [r for r in out["rows"] if r["kind"] == "bytes" and r["role"] == "validate"]
    assert bytes_rows and max(abs(r["err_pct"]) for r in bytes_rows) == out["max_bytes_err_pct"]
    llama_prefill = [r for r in out["rows"] if r["what"] == "prefill_s" and r["role"] == "validate"]
    assert llama_prefill and all(abs(r["err_pct"]) < 20 for r in llama_prefill)
    roles = {r["role"].split(":")[0] for r in out["rows"]}
    assert roles <= {"validate", "calibrate", "excluded"}
    assert all(r["role"] != "excluded" for r in out["rows"])  # every exclusion says why
    assert out["passed"] and out["max_time_err_pct"] <= 20 and out["max_bytes_err_pct"] <= 5


@pytest.mark.skipif(not (RESULTS / "kv_gpu_smollm2.json").is_file(), reason="needs eval/results/kv_gpu_smollm2.json")
def test_only_warm_up_rows_stay_excluded() -> None:
    """AdaKV and quantized bytes, H2O / quantized / generate() decode times are modelled; each new constant has
    exactly one calibrate row, and every other row of its kind validates within the bars."""
    out = validate(RESULTS)
    excluded = [r for r in out["rows"] if r["role"].startswith("excluded")]
    assert out["n_excluded"] == len(excluded) <= 4
    assert all("warm-up" in r["role"] or "forced to eager" in r["role"] for r in excluded)

    def rows(what: str, needle: str) -> list[dict]:
        return [r for r in out["rows"] if r["what"] == what and needle in r["detail"]]

    for what, needle, bar in (
        ("kv_bytes", "adakv", 5),
        ("kv_bytes", "int4", 5),
        ("kv_bytes", "int8-channel", 5),
        ("decode_s", "h2o", 20),
        ("decode_s", "int", 20),
        ("decode_s", "generate()", 20),
    ):
        found = rows(what, needle)
        assert found and all(abs(r["err_pct"]) <= bar for r in found), (what, needle)
        assert any(r["role"] == "validate" for r in found), (what, needle)
    for what, needle in (("kv_bytes", "adakv"), ("decode_s", "h2o"), ("decode_s", "generate()")):
        assert sum(r["role"] == "calibrate" for r in rows(what, needle)) == 1, (what, needle)
    eager_int8 = [r for r in rows("decode_s", "int8") if "graph" not in r["detail"]]
    assert sum(r["role"] == "calibrate" for r in eager_int8) == 1  # the eager quantized-KV step constant
    graph_int8 = rows("decode_s", "int8_graph")  # the graph's int8 KV read rate
    assert sum(r["role"] == "calibrate" for r in graph_int8) == 1 and len(graph_int8) >= 3


@pytest.mark.skipif(not (RESULTS / "ring_gpu.json").is_file(), reason="needs eval/results/ring_gpu.json")
def test_validate_flags_a_wrong_measurement(tmp_path: Path) -> None:
    out = validate(_ring_file(tmp_path))
    row = next(r for r in out["rows"] if r["what"] == "prefill_s" and r["context"] == 262144 and r["gpus"] == 1)
    assert row["err_pct"] == pytest.approx(-51.2, abs=1.0)
    assert out["max_time_err_pct"] >= 49 and not out["passed"]


def test_missing_results_dir_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not found"):
        validate(tmp_path / "nope")


def test_a_results_file_in_another_shape_is_skipped_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "kv_peer_rows.json").write_text(json.dumps({"rows": [{"system": "kvpress", "policy": "snapkv"}]}))
    out = validate(tmp_path)
    assert out["rows"] == [] or all(r["source"] != "kv_peer_rows.json" for r in out["rows"])
    assert any(s["source"] == "kv_peer_rows.json" and "not in a shape" in s["why"] for s in out["skipped"])
