"""`longhaul bench engine`: our engine vs transformers on the same weights (parity, prefill and decode speed)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.table import Table


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
        peer: str = typer.Option("", help="compare with this peer instead of transformers: llama.cpp (CPU, same "
                                          "GGUF; writes eval/results/engine_cpu_quant.json)"),
        weights: str = typer.Option("q4", help="with --peer: our weight formats, comma-separated (fp32, int8, q4); "
                                               "the first is the headline"),
        peer_python: str = typer.Option("", help="with --peer: the Python of llama-cpp-python's venv (default "
                                                 "$LONGHAUL_LLAMACPP_PYTHON or /work/peers/llamacpp/bin/python)"),
        flash_attn: bool = typer.Option(False, help="with --peer: llama.cpp's flash attention on"),
        ppl_tokens: int = typer.Option(768, help="with --peer: held-out tokens for the perplexity check (0: skip)"),
        out: str = typer.Option("", help="with --peer: results file (default eval/results/engine_cpu_quant.json)"),
    ) -> None:
        """Benchmark the engine against transformers (or llama.cpp with --peer); writes eval/results/."""
        from rich.console import Console

        try:
            ctx = tuple(int(c) for c in contexts.split(",") if c.strip())
        except ValueError as exc:
            raise ValueError(f"--contexts must be comma-separated integers, got {contexts!r}") from exc
        if not ctx:
            ctx = (8192, 32768, 131072) if device.startswith("cuda") else (1024, 4096, 8192)
        if peer:
            _vs_peer(peer, device, ctx, weights, threads, decode_tokens, reps, peer_python, flash_attn, ppl_tokens,
                     out, as_json)
            return
        from eval.bench.engine import run

        if device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise ValueError("--device cuda but no CUDA GPU is visible: run on a GPU machine or use --device cpu")
        report = run(device=device, contexts=ctx, model=model or None, threads=threads, decode_tokens=decode_tokens,
                     reps=reps, command="longhaul bench engine " + " ".join(sys.argv[3:]))
        console = Console()
        console.print(_ratio_table(f"engine vs transformers ({report['device']}, {report['dtype']})",
                                   report["rows"], "hf", "hf"))
        console.print(f"parity max |diff| {report['parity_max_abs_diff']:.2e}, greedy identical: "
                      f"{report['greedy_identical']}")
        if as_json:
            summary = {k: v for k, v in report.items() if k not in ("rows", "attention")}
            typer.echo(json.dumps(summary))


PEERS = ("llama.cpp",)


def _vs_peer(peer: str, device: str, ctx: tuple[int, ...], weights: str, threads: int, decode_tokens: int, reps: int,
             peer_python: str, flash_attn: bool, ppl_tokens: int, out: str, as_json: bool) -> None:
    from pathlib import Path

    from rich.console import Console

    from engine.quant import check_weights
    from eval.bench.engine_peer import run

    if peer not in PEERS:
        raise ValueError(f"unknown peer {peer!r}: choose one of {', '.join(PEERS)}")
    if device != "cpu":
        raise ValueError("--peer llama.cpp compares CPU engines: use --device cpu")
    formats = tuple(w.strip() for w in weights.split(",") if w.strip())
    for w in formats:
        check_weights(w)
    report = run(contexts=ctx, weights=formats, threads=threads, decode_tokens=decode_tokens, reps=reps,
                 peer_python=peer_python or None, flash_attn=flash_attn, ppl_tokens=ppl_tokens,
                 out=Path(out) if out else None,
                 command="longhaul bench engine " + " ".join(sys.argv[3:]))
    console = Console()
    for w, res in report["by_weights"].items():
        console.print(_ratio_table(f"engine ({w} weights, {res['kv_dtype']} KV) vs llama.cpp, {threads} threads",
                                   res["rows"], "llama.cpp", "llamacpp"))
    if as_json:
        typer.echo(json.dumps({k: v for k, v in report.items() if k not in ("by_weights", "quality")}))


def _ratio_table(title: str, rows: list[dict[str, Any]], peer: str, key: str) -> Table:
    """Our prefill and decode tok/s beside the peer's (``{key}_prefill_tok_s``, ``{key}_decode_tok_s``) per context."""
    from rich.table import Table

    table = Table(title=title)
    for col in ("context", "prefill tok/s", peer, "ratio", "decode tok/s", peer, "ratio"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(str(r["context"]), f"{r['prefill_tok_s']:.0f}", f"{r[f'{key}_prefill_tok_s']:.0f}",
                      f"{r['prefill_ratio']:.2f}", f"{r['decode_tok_s']:.1f}", f"{r[f'{key}_decode_tok_s']:.1f}",
                      f"{r['decode_ratio']:.2f}")
    return table
