"""`longhaul bench batch`: the serving core's batched throughput vs transformers generate() at the same batch sizes."""

from __future__ import annotations

import json
import sys

import typer


def register(bench: typer.Typer) -> None:
    @bench.command("batch")
    def batch(
        device: str = typer.Option("cpu", help="cpu or cuda"),
        model: str = typer.Option("", help="model (default: bundled SmolLM2 on CPU, synthetic:llama3-8b on CUDA)"),
        batches: str = typer.Option("", help="comma-separated batch sizes (default 1,8,32,64 on CUDA, 1,4,8 on CPU)"),
        prompt_len: int = typer.Option(0, help="prompt tokens per request (default 2048 on CUDA, 256 on CPU)"),
        decode_tokens: int = typer.Option(0, help="new tokens per request (default 64 on CUDA, 16 on CPU)"),
        threads: int = typer.Option(2, help="torch threads"),
        eager: bool = typer.Option(False, help="decode without CUDA graphs"),
        peer: bool = typer.Option(True, help="also time transformers generate() at each batch size"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object on the last line"),
    ) -> None:
        """Total output tok/s at each batch size, ours vs transformers; writes eval/results/engine_batch_*.json."""
        from rich.console import Console
        from rich.table import Table

        from eval.bench.batch import run

        cuda = device.startswith("cuda")
        try:
            sizes = tuple(int(b) for b in batches.split(",") if b.strip()) or ((1, 8, 32, 64) if cuda else (1, 4, 8))
        except ValueError as exc:
            raise ValueError(f"--batches must be comma-separated integers, got {batches!r}") from exc
        if cuda:
            import torch

            if not torch.cuda.is_available():
                raise ValueError("--device cuda but no CUDA GPU is visible: run on a GPU machine or use --device cpu")
        report = run(device=device, model=model or None, batches=sizes,
                     prompt_len=prompt_len or (2048 if cuda else 256),
                     decode_tokens=decode_tokens or (64 if cuda else 16),
                     threads=threads, graph=False if eager else None, peer=peer,
                     command="longhaul bench batch " + " ".join(sys.argv[3:]))
        table = Table(title=f"serving core vs transformers generate() ({report['device']}, {report['dtype']})")
        for col in ("batch", "tok/s", "decode tok/s", "hf tok/s", "ratio", "roofline frac"):
            table.add_column(col, justify="right")
        for r in report["rows"]:
            table.add_row(str(r["batch"]), f"{r['tok_s']:.1f}", f"{r['decode_tok_s']:.1f}",
                          f"{r.get('hf_tok_s', 0):.1f}", f"{r.get('vs_hf', 0):.2f}",
                          f"{r.get('decode_roofline_frac', 0):.2f}")
        Console().print(table)
        if as_json:
            typer.echo(json.dumps({k: v for k, v in report.items() if k != "rows"}))
