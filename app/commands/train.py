"""`longhaul train llm`: build the domain-tuning data, LoRA-tune on a GPU, install the adapter with its manifest."""

from __future__ import annotations

import json
import sys
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

EVAL_BUDGETS = {2048: 1.0, 4096: 1.0, 8192: 1.0, 16384: 1.0}


def _build_shard(split: str, seeds: tuple[int, ...], out: str, tokens: int, per_type: int,
                 types: tuple[str, ...] = (), spread: float = 0.0) -> dict[str, Any]:
    from engine.tokenizer import load_tokenizer
    from eval.tuning.data import TuneDataConfig, build

    if split == "train":
        cfg = TuneDataConfig(seeds=seeds, tokens=tokens, questions_per_type=per_type, spread=spread)
    else:
        cfg = TuneDataConfig(split="eval", seeds=seeds, tokens=tokens, questions_per_type=per_type,
                             budgets=dict(EVAL_BUDGETS), lookup_budgets=(32768,), types=types)
    return build(cfg, load_tokenizer(), Path(out))


def build_data(out: Path, train_seeds: int, eval_seeds: int, tokens: int, workers: int,
               spread: float = 0.0) -> dict[str, Any]:
    """Write ``out/train<k>.jsonl.xz`` (seeds 0..n-1, sharded) and ``out/eval.jsonl.xz`` (seeds 9000..)."""
    from eval.tuning.data import EVAL_SEED_MIN

    if train_seeds < 1 or eval_seeds < 1 or workers < 1:
        raise ValueError("--train-seeds, --eval-seeds and --workers must be >= 1")
    out.mkdir(parents=True, exist_ok=True)
    jobs = [("train", tuple(range(k, train_seeds, workers)), str(out / f"train{k}.jsonl.xz"), tokens, 3, (), spread)
            for k in range(workers)]
    jobs.append(("eval", tuple(range(EVAL_SEED_MIN, EVAL_SEED_MIN + eval_seeds)), str(out / "eval.jsonl.xz"),
                 max(tokens, 48_000), 4, (), 0.0))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        stats = list(pool.map(_build_shard, *zip(*jobs, strict=True)))
    summary = {"train": [s for s in stats if s["split"] == "train"], "eval": stats[-1]}
    (out / "stats.json").write_text(json.dumps(summary, indent=1))
    return summary


def gpu_command(data: Path, job: Path, train_seconds: float) -> list[str]:
    from engine.assets import smollm2_gguf
    from engine.tokenizer import DEFAULT_CACHE

    toks = sorted(DEFAULT_CACHE.glob("*/tokenizer.json"))
    tok_dir = str(toks[0].parent) if toks else "<folder with tokenizer.json>"
    return [sys.executable, "-m", "eval.tuning.device_run", "--gguf", str(smollm2_gguf()), "--tokenizer", tok_dir,
            "--train", *map(str, sorted(data.glob("train*.jsonl.xz"))), "--eval", str(data / "eval.jsonl.xz"),
            "--out", str(job), "--train-seconds", str(train_seconds)]


def register(train: typer.Typer) -> None:
    @train.command("llm")
    def llm(
        out: Annotated[Path, typer.Option(help="Working folder: data/ and job/ go here.")] = Path(".tune"),
        train_seeds: Annotated[int, typer.Option(help="Training corpora (seeds 0..N-1).")] = 240,
        eval_seeds: Annotated[int, typer.Option(help="Held-out corpora (seeds 9000..).")] = 5,
        tokens: Annotated[int, typer.Option(help="Size of each training corpus in tokens.")] = 20_000,
        workers: Annotated[int, typer.Option(help="Processes building the data.")] = 2,
        spread: Annotated[float, typer.Option(help="Share of training examples with the gold at a random rank "
                                                   "(0 reproduces the bundled adapter; 0.5 recommended).")] = 0.0,
        train_seconds: Annotated[float, typer.Option(help="GPU training time (the LR schedule follows it).")] = 210,
        build_only: Annotated[bool, typer.Option(help="Only build the data; print the GPU command.")] = False,
        publish: Annotated[Path | None, typer.Option(help="Install a finished GPU job folder (adapter/, "
                                                              "results.json) into the repo.")] = None,
        json_out: Annotated[bool, typer.Option("--json", help="Summary as JSON, last line.")] = False,
    ) -> None:
        """Build packed prompts from generated corpora, LoRA-tune SmolLM2 (GPU), install adapter + manifest."""
        data, job = out / "data", out / "job"
        if publish is None:
            stats = build_data(data, train_seeds, eval_seeds, tokens, workers, spread)
            cmd = gpu_command(data, job, train_seconds)
            if build_only:
                _emit({"data": stats, "gpu_command": " ".join(cmd)}, json_out)
                return
            import torch

            if not torch.cuda.is_available():
                raise ValueError("no CUDA GPU on this machine: copy the data and run `" + " ".join(cmd) +
                                 "` on a GPU host, then `longhaul train llm --publish <its --out folder>`")
            from eval.tuning.device_run import main as run_job

            run_job(cmd[3:])
            publish = job
        from engine.assets import smollm2_gguf
        from eval.tuning.publish import publish as install

        stats_file = data / "stats.json"
        stats_in = json.loads(stats_file.read_text()) if stats_file.exists() else {}
        run = {"command": "longhaul train llm", "date": datetime.now(UTC).isoformat(timespec="seconds")}
        res = install(publish, smollm2_gguf(), stats_in, run)
        _emit({k: res[k] for k in ("accuracy_by_type_4k", "usable_context_tokens", "bars", "adapter")}, json_out)


def _emit(obj: dict[str, Any], json_out: bool) -> None:
    if json_out:
        typer.echo(json.dumps(obj))
    else:
        typer.echo(json.dumps(obj, indent=1))
