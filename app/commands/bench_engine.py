"""`longhaul bench engine`: our engine vs transformers on the same weights (parity, prefill and decode speed)."""

from __future__ import annotations

import json
import sys

import typer


def register(bench: typer.Typer) -> None:
    @bench.command("engine")
    def engine(
        device: str = typer.Option("cpu", help="cpu or cuda"),
        contexts: str = typer.Option("", help="comma-separated context lengths (default 1024,4096,8192 on CPU; "
                                             "8192,32768,131072 on CUDA)"),
        model: str = typer.Option("", help="model (default: bundled SmolLM2 on CPU, synthetic:llama3-8b on CUDA)"),
        threads: int = typer.Option(2, help="torch threads for both engines"),
        decode_tokens: int = typer.Option(32, help="tokens decoded per measurement"),
        reps: int = typer.Option(2, help="repetitions; the best is kept"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object on the last line"),
    ) -> None:
        """Benchmark the engine against transformers; writes eval/results/engine_{cpu,gpu}.json."""
        from rich.console import Console
        from rich.table import Table

        from eval.bench.engine import run

        try:
            ctx = tuple(int(c) for c in contexts.split(",") if c.strip())
        except ValueError as exc:
            raise ValueError(f"--contexts must be comma-separated integers, got {contexts!r}") from exc
        if not ctx:
            ctx = (8192, 32768, 131072) if device.startswith("cuda") else (1024, 4096, 8192)
        if device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise ValueError("--device cuda but no CUDA GPU is visible: run on a GPU machine or use --device cpu")
        report = run(device=device, contexts=ctx, model=model or None, threads=threads, decode_tokens=decode_tokens,
                     reps=reps, command="longhaul bench engine " + " ".join(sys.argv[3:]))
        console = Console()
        table = Table(title=f"engine vs transformers ({report['device']}, {report['dtype']})")
        for col in ("context", "prefill tok/s", "hf", "ratio", "decode tok/s", "hf", "ratio"):
            table.add_column(col, justify="right")
        for r in report["rows"]:
            table.add_row(str(r["context"]), f"{r['prefill_tok_s']:.0f}", f"{r['hf_prefill_tok_s']:.0f}",
                          f"{r['prefill_ratio']:.2f}", f"{r['decode_tok_s']:.1f}", f"{r['hf_decode_tok_s']:.1f}",
                          f"{r['decode_ratio']:.2f}")
        console.print(table)
        console.print(f"parity max |diff| {report['parity_max_abs_diff']:.2e}, greedy identical: "
                      f"{report['greedy_identical']}")
        if as_json:
            summary = {k: v for k, v in report.items() if k not in ("rows", "attention")}
            typer.echo(json.dumps(summary))
