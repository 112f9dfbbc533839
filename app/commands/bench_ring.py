"""`longhaul bench ring`: ring attention exactness on CPU (gloo ranks) or speed on GPUs (torchrun, NCCL)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import typer


def register(bench: typer.Typer) -> None:
    """Add the ``ring`` command to the ``bench`` group."""

    @bench.command("ring")
    def ring(
        device: str = typer.Option("cpu", help="cpu: gloo ranks on this machine; cuda: torchrun over --gpus GPUs"),
        world_sizes: str = typer.Option("2,3,4", help="cpu: world sizes to check, comma-separated"),
        length: int = typer.Option(1001, help="cpu: sequence length (need not divide by the world size)"),
        gpus: int = typer.Option(2, help="cuda: number of GPUs (ranks)"),
        lengths: str = typer.Option("131072,262144,524288", help="cuda: attention lengths"),
        model_lengths: str = typer.Option("131072,262144,524288", help="cuda: synthetic:llama3-8b prefill lengths"),
        out: str = typer.Option("eval/results/ring_gpu.json", help="cuda: results file"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object on the last line"),
    ) -> None:
        """Ring attention vs single-device attention: max abs diff (cpu) or efficiency and TFLOP/s (cuda)."""
        if device == "cpu":
            from eval.bench.ring import cpu_exactness

            res = cpu_exactness(tuple(int(w) for w in world_sizes.split(",")), length)
        elif device == "cuda":
            torchrun = shutil.which("torchrun")
            if torchrun is None:
                raise ValueError("torchrun is not on PATH: install torch with distributed support")
            cmd = [torchrun, f"--nproc-per-node={gpus}", "-m", "eval.bench.ring", "gpu", "--lengths", lengths,
                   "--model-lengths", model_lengths, "--out", out]
            proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "NCCL_NVLS_ENABLE": "0"})
            if proc.returncode != 0:
                sys.stderr.write(proc.stderr[-4000:])
                raise ValueError(f"the ring benchmark failed (exit {proc.returncode}); see the log above")
            res = json.loads(proc.stdout.strip().splitlines()[-1])
        else:
            raise ValueError(f"unknown device {device!r}: choose cpu or cuda")
        if as_json:
            typer.echo(json.dumps(res))
        else:
            for key in ("ring_max_abs_diff", "world_sizes", "ring_efficiency_2gpu_256k", "ring_attn_tflops_per_gpu",
                        "max_tokens_2gpu", "decode_tok_s_2gpu"):
                if key in res:
                    typer.echo(f"{key}: {res[key]}")
