"""`longhaul plan`: the lesson's capacity table (memory, latency, cost per strategy) for a model, context and GPUs."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer

GIB = 2**30


def measured_accuracy(results_dir: Path, ratio: float, kv: str = "bf16") -> dict[str, str]:
    """Relative accuracy per strategy from our KV needle evals (longhaul rows, question inside the context)."""
    out = {"full": "100% (baseline)", "streaming": "not measured", "snapkv": "not measured",
           "ring": "= full (exact attention; accuracy not measured separately)", "hybrid": "not measured"}
    for name in ("kv_gpu_smollm2.json", "kv_cpu.json"):  # the GPU run has more needles (n=12): prefer it
        path = results_dir / name
        if not path.is_file():
            continue
        d = json.loads(path.read_text())
        rows = [r for r in d.get("rows", []) if r.get("system") == "longhaul" and r.get("question") == "inside"
                and r.get("kv_dtype") == "model" and "accuracy" in r]
        full = next((r["accuracy"] for r in rows if r["policy"] == "full"), None)
        if not full:
            continue

        def rel(policy: str, rows: list[dict[str, Any]] = rows, full: float = full) -> str | None:
            hit = next((r for r in rows if r["policy"] == policy and float(r["ratio"]) == ratio), None)
            return None if hit is None else f"{100 * hit['accuracy'] / full:.0f}%"

        src = f"SmolLM2 needles at {ratio:g}x, n={rows[0]['n']}, {name}"
        snap, h2o, stream = rel("snapkv"), rel("h2o"), rel("streamingllm")
        if snap is not None and out["snapkv"] == "not measured":
            out["snapkv"] = f"SnapKV {snap} / H2O {h2o or 'n/a'} ({src})"
        if stream is not None and out["streaming"] == "not measured":
            out["streaming"] = f"{stream} ({src}; at {ratio:g}x, not this window)"
        quant = next((r for r in d["rows"] if r.get("system") == "longhaul" and r.get("policy") == "full"
                      and r.get("kv_dtype") == kv and "accuracy" in r), None)
        if quant is not None and kv not in ("bf16", "fp16", "fp32") and "KV" not in out["full"]:
            out["full"] += f"; {kv} KV {100 * quant['accuracy'] / full:.0f}% ({name})"
    return out


def _fmt_bytes(b: float) -> str:
    return f"{b / GIB:,.1f} GiB" if b >= GIB / 10 else f"{b / 2**20:,.0f} MiB"


def _fmt_s(s: float) -> str:
    return f"{s:,.2f} s" if s < 100 else f"{s:,.0f} s"


def register(cli: typer.Typer) -> None:
    """Add the ``plan`` command."""

    @cli.command("plan")
    def plan_cmd(
        model: str = typer.Option("llama3-70b", help="named shape (llama3-8b, llama3-70b, smollm2-135m, ...) or "
                                  "an HF config.json path"),
        context: str = typer.Option("128K", help="context tokens, e.g. 8192, 128K, 1M"),
        gpus: int = typer.Option(8, help="GPUs available (ring attention uses all of them)"),
        kv: str = typer.Option("bf16", help="KV cache dtype: bf16, fp16, fp32, fp8, int8, int4"),
        gpu: str = typer.Option("h200", help="GPU kind in planner/calibration.json (h200, h100)"),
        price: float = typer.Option(3.5, help="$ per GPU-hour"),
        ratio: float = typer.Option(4.0, help="SnapKV/H2O compression ratio"),
        window: str = typer.Option("4K", help="StreamingLLM recent window (tokens)"),
        sinks: int = typer.Option(4, help="StreamingLLM sink tokens"),
        evidence: str = typer.Option("12K", help="hybrid retrieval: evidence tokens packed into the prompt"),
        output_tokens: int = typer.Option(256, help="answer tokens per question (for the cost)"),
        validate: bool = typer.Option(False, "--validate", help="compare predictions with eval/results"),
        results: str = typer.Option("eval/results", help="measured results directory"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object on the last line"),
    ) -> None:
        """Per strategy: effective context, KV bytes, prefill latency, decode speed, concurrency and cost."""
        from rich.console import Console

        from app.commands.tables import print_fitting
        from planner.rates import parse_tokens
        from planner.strategies import plan
        from planner.validate.run import validate as run_validation

        ctx = parse_tokens(context)
        rows = plan(model, ctx, gpus, gpu=gpu, kv_dtype=kv, price=price, ratio=ratio, window=parse_tokens(window),
                    sinks=sinks, evidence=parse_tokens(evidence), output_tokens=output_tokens)
        results_dir = Path(results)
        acc = measured_accuracy(results_dir, ratio, kv) if results_dir.is_dir() else {}
        for r in rows:
            r.accuracy = acc.get(r.strategy, "not measured")
        console = Console()  # the terminal's width (80 when not a terminal, or $COLUMNS): the tables wrap to fit
        cells = []
        for r in rows:
            conc = f"{r.concurrent} ({r.concurrent / r.gpus:.1f}/GPU)" if r.fits else "does not fit"
            cost = f"${r.cost_per_1k:,.2f}" if r.cost_per_1k is not None else "n/a"
            cells.append([r.label, r.effective_context, f"{_fmt_bytes(r.kv_bytes)} ({_fmt_bytes(r.kv_bytes_per_gpu)}"
                          "/GPU)", str(r.gpus), _fmt_s(r.prefill_s), f"{r.decode_tok_s:.1f} t/s", conc, cost,
                          r.accuracy])
        print_fitting(console, f"{model}, {context} context, up to {gpus} x {gpu}, KV {kv}, ${price:g}/GPU-hour",
                      ["Strategy", "Effective context", "KV per request", "GPUs", "Prefill", "Decode",
                       f"Concurrent reqs ({gpu})", "$ / 1K questions", "Relative accuracy"], cells)
        console.print("Decode is longhaul's engine, not the HBM roofline: CUDA-graph rates for uncompressed caches on "
                      "one GPU, eager rates for compressed or quantized caches and ring's sharded decode; notes: "
                      + "; ".join(f"{r.strategy}: {r.note}" for r in rows if r.note))
        summary: dict[str, Any] = {"model": model, "context": ctx, "gpus": gpus, "gpu": gpu, "kv": kv,
                                   "price_per_gpu_hour": price, "rows": [asdict(r) for r in rows]}
        if validate or (as_json and results_dir.is_dir()):
            val = run_validation(results_dir, gpu=gpu)
            summary.update({k: v for k, v in val.items() if k != "rows"})
            if validate:
                summary["validation"] = val["rows"]
                print_fitting(console, f"predicted vs measured ({results_dir}); bars: time "
                                       f"{val['time_bar_pct']:g}%, bytes {val['bytes_bar_pct']:g}%",
                              ["source", "what", "model", "context", "GPUs", "detail", "measured", "predicted",
                               "err %", "role"],
                              [[v["source"][:30], v["what"], v["model"], str(v["context"]), str(v["gpus"]),
                                v["detail"][:44], f"{v['measured']:.4g}", f"{v['predicted']:.4g}",
                                f"{v['err_pct']:+.1f}", v["role"][:60]] for v in val["rows"]])
                console.print(f"max error over validate rows: time {val['max_time_err_pct']}%, bytes "
                              f"{val['max_bytes_err_pct']}% ({val['n_validate']} validate, {val['n_calibrate']} "
                              f"calibrate, {val['n_excluded']} excluded); passed: {val['passed']}")
        if as_json:
            typer.echo(json.dumps(summary))
