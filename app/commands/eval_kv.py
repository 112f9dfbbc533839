"""`longhaul eval kv`: KV compression and quantization on passkey needles, decode speed, optional kvpress rows."""

from __future__ import annotations

import json
import sys

import typer


def _floats(text: str, what: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise ValueError(f"--{what} must be comma-separated numbers, got {text!r}") from exc


def register(eval_group: typer.Typer) -> None:
    @eval_group.command("kv")
    def kv(
        lengths: str = typer.Option("1024,2048", help="needle prompt lengths in tokens"),
        depths: str = typer.Option("0.1,0.5,0.9", help="needle depths (0 = start, 1 = end)"),
        ratios: str = typer.Option("2,4,8", help="compression ratios"),
        policies: str = typer.Option("streamingllm,h2o,snapkv,pyramidkv,adakv", help="policies to run"),
        dtypes: str = typer.Option("bf16,int8,int8-channel,fp8,int4", help="KV dtypes (full cache)"),
        speed_context: int = typer.Option(8192, help="context of the decode-speed run (0 skips it)"),
        model: str = typer.Option("", help="model (default: the bundled SmolLM2)"),
        device: str = typer.Option("cpu", help="cpu or cuda"),
        threads: int = typer.Option(2, help="torch threads"),
        compute_dtype: str = typer.Option("auto", help="fp32 or bf16 (auto: fp32 on CPU, bf16 on CUDA)"),
        backend: str = typer.Option("auto", help="attention backend (math runs fp32 on CUDA)"),
        peers: str = typer.Option("", help="JSON file of kvpress rows (eval/kv_peer.py) to put beside ours"),
        out: str = typer.Option("eval/results/kv_cpu.json", help="results file ('' = do not write)"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object on the last line"),
    ) -> None:
        """Accuracy, agreement, KV bytes and decode time per policy x ratio x KV dtype; writes a results file."""
        import datetime
        import platform
        from pathlib import Path

        import torch

        from engine.kv import FORMATS, PLAIN_DTYPES, POLICIES
        from engine.llm import LLM
        from eval import kv as kv_eval

        pols = tuple(p for p in policies.split(",") if p)
        for p in pols:
            if p not in POLICIES:
                raise ValueError(f"unknown policy {p!r}: choose from {', '.join(POLICIES)}")
        dts = tuple(d for d in dtypes.split(",") if d)
        for d in dts:
            if d not in FORMATS and d not in PLAIN_DTYPES:
                raise ValueError(f"unknown KV dtype {d!r}: choose from {', '.join([*PLAIN_DTYPES, *FORMATS])}")
        dtypes_ = {"fp32": torch.float32, "bf16": torch.bfloat16}
        if compute_dtype not in (*dtypes_, "auto"):
            raise ValueError(f"--compute-dtype must be one of auto, {', '.join(dtypes_)}; got {compute_dtype!r}")
        auto = "bf16" if device.startswith("cuda") else "fp32"
        dtype = dtypes_[auto if compute_dtype == "auto" else compute_dtype]
        max_len = max(max(int(x) for x in _floats(lengths, "lengths")) + 256, speed_context + 64)
        llm = LLM.load(model or None, device=device, dtype=dtype, threads=threads, max_seq_len=max_len, adapter=None)
        llm.model.set_attention_backend(backend)
        def log(message: str) -> None:
            typer.echo(message, err=True)

        acc = kv_eval.run(llm, tuple(int(x) for x in _floats(lengths, "lengths")), _floats(depths, "depths"),
                          _floats(ratios, "ratios"), pols, dts, progress=log)
        speed = kv_eval.decode_speed(llm, speed_context) if speed_context else None
        peer_rows = json.loads(Path(peers).read_text())["rows"] if peers else []
        report = {"command": "longhaul eval kv " + " ".join(sys.argv[3:]), "machine": platform.processor() or
                  platform.machine(), "device": device, "threads": threads,
                  "compute_dtype": str(dtype).removeprefix("torch."), "attention_backend": backend,
                  "torch": torch.__version__,
                  "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                  "model": model or "SmolLM2-135M-Instruct Q4_1 GGUF",
                  **kv_eval.headline(acc, speed, peer_rows), "speed_8k": speed,
                  "prefill_s_mean": acc["prefill_s_mean"], "n_needles": acc["n_needles"],
                  "rows": acc["rows"] + list(peer_rows)}
        for r in report["rows"]:
            typer.echo(f"{r['system']:9} {r['question']:7} {r['policy']:13} {r['ratio']:>4} {r['kv_dtype']:12} "
                       f"acc {r['accuracy']:.2f} agree {r.get('agreement', float('nan')):.2f} "
                       f"bytes {r.get('kv_bytes_vs_full', float('nan')):.3f}")
        if out:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            Path(out).write_text(json.dumps(report, indent=1) + "\n")
        if as_json:
            typer.echo(json.dumps(report))
