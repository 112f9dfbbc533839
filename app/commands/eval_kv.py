"""`longhaul eval kv`: KV compression and quantization on passkey needles and domain lookups, per model; decode
speed; optional kvpress rows."""

from __future__ import annotations

import json
import sys

import typer

TASKS = ("passkey", "domain")
MODELS = ("base", "tuned", "both")


def _floats(text: str, what: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise ValueError(f"--{what} must be comma-separated numbers, got {text!r}") from exc


def parse_tasks(text: str) -> tuple[str, ...]:
    """``"passkey,domain"`` -> the task names, checked."""
    tasks = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [t for t in tasks if t not in TASKS]
    if bad or not tasks:
        raise ValueError(f"unknown task {bad[0] if bad else text!r}: choose from {', '.join(TASKS)}")
    return tasks


def parse_models(text: str) -> list[tuple[str, str | None]]:
    """``--model``: ``(row label, adapter)`` pairs. ``base`` = the bundled model alone, ``tuned`` = with the domain
    adapter (``adapter="auto"``), ``both``; anything else is a model path, run without an adapter."""
    if not text or text == "base":
        return [("base", None)]
    if text == "tuned":
        return [("tuned", "auto")]
    if text == "both":
        return [("tuned", "auto"), ("base", None)]
    return [(text, None)]


def register(eval_group: typer.Typer) -> None:
    @eval_group.command("kv")
    def kv(
        tasks: str = typer.Option("passkey", "--tasks", "--task", help=f"comma-separated: {', '.join(TASKS)}"),
        model: str = typer.Option("base", help="base, tuned (domain adapter merged), both, or a model path"),
        lengths: str = typer.Option("1024,2048", help="needle prompt lengths in tokens"),
        depths: str = typer.Option("0.1,0.5,0.9", help="needle depths (0 = start, 1 = end)"),
        ratios: str = typer.Option("2,4,8", help="compression ratios"),
        policies: str = typer.Option("streamingllm,h2o,snapkv,pyramidkv,adakv", help="policies to run"),
        dtypes: str = typer.Option("bf16,int8,int8-channel,fp8,int4", help="KV dtypes (full cache)"),
        configs: str = typer.Option("", help="explicit configurations, e.g. snapkv@4,snapkv@4/outside,int8 "
                                    "(default: passkey the policies x ratios grid, domain eval/kv/domain.CONFIGS)"),
        domain_n: int = typer.Option(12, help="domain lookups per budget"),
        domain_budgets: str = typer.Option("2048", help="packed-prompt budgets of the domain lookups"),
        domain_seed: int = typer.Option(9000, help="first held-out corpus seed of the domain lookups (>= 9000); a "
                                        "later seed gives other items, so a cell can be run in pieces"),
        domain_placements: str = typer.Option("pipeline,0.5,0.9", help="gold placement per item, cycled: "
                                              "'pipeline' or a depth"),
        speed_context: int = typer.Option(8192, help="context of the decode-speed run (0 skips it)"),
        device: str = typer.Option("cpu", help="cpu or cuda"),
        threads: int = typer.Option(2, help="torch threads"),
        compute_dtype: str = typer.Option("auto", help="fp32 or bf16 (auto: fp32 on CPU, bf16 on CUDA)"),
        backend: str = typer.Option("auto", help="attention backend (math runs fp32 on CUDA)"),
        peers: str = typer.Option("", help="JSON file of kvpress rows (eval/kv/peer.py) to put beside ours"),
        notes: str = typer.Option("", help="free text recorded in the results file (what was cut, and why)"),
        out: str = typer.Option("eval/results/kv_cpu.json", help="results file ('' = do not write)"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object on the last line"),
    ) -> None:
        """Accuracy, agreement, KV bytes and decode time per task x model x policy x ratio x KV dtype."""
        import datetime
        import os
        import platform
        from pathlib import Path

        import torch

        from engine.kv import FORMATS, PLAIN_DTYPES, POLICIES
        from engine.llm import LLM
        from eval.kv import domain as kv_domain
        from eval.kv import report as kv_report
        from eval.kv import sweep as kv_eval

        task_list, models = parse_tasks(tasks), parse_models(model)
        pols = tuple(p for p in policies.split(",") if p)
        for p in pols:
            if p not in POLICIES:
                raise ValueError(f"unknown policy {p!r}: choose from {', '.join(POLICIES)}")
        dts = tuple(d for d in dtypes.split(",") if d)
        for d in dts:
            if d not in FORMATS and d not in PLAIN_DTYPES:
                raise ValueError(f"unknown KV dtype {d!r}: choose from {', '.join([*PLAIN_DTYPES, *FORMATS])}")
        explicit = kv_eval.parse_configs(configs) if configs else None
        domain_configs = explicit or kv_eval.parse_configs(kv_domain.CONFIGS)
        budgets = tuple(int(b) for b in _floats(domain_budgets, "domain-budgets"))
        placements = tuple(p.strip() for p in domain_placements.split(",") if p.strip())
        dtypes_ = {"fp32": torch.float32, "bf16": torch.bfloat16}
        if compute_dtype not in (*dtypes_, "auto"):
            raise ValueError(f"--compute-dtype must be one of auto, {', '.join(dtypes_)}; got {compute_dtype!r}")
        auto = "bf16" if device.startswith("cuda") else "fp32"
        dtype = dtypes_[auto if compute_dtype == "auto" else compute_dtype]
        lens = tuple(int(x) for x in _floats(lengths, "lengths")) if "passkey" in task_list else (0,)
        max_len = max(max(lens) + 256, speed_context + 64, *(b + 256 for b in budgets))

        def log(message: str) -> None:
            typer.echo(message, err=True)

        load_start = os.getloadavg()
        rows: list[dict] = []
        meta: dict[str, list[dict]] = {}
        extra: dict[str, dict] = {}
        speed = None
        for label, adapter in models:
            path = None if label in ("base", "tuned") else label
            llm = LLM.load(path, device=device, dtype=dtype, threads=threads, max_seq_len=max_len, adapter=adapter)
            llm.model.set_attention_backend(backend)
            log(f"model {label}: adapter {llm.adapter}")
            if "passkey" in task_list:
                acc = kv_eval.run(llm, lens, _floats(depths, "depths"), _floats(ratios, "ratios"), pols, dts,
                                  progress=log, configs=explicit)
                rows += [dict(r, model=label) for r in acc["rows"]]
                extra[label] = {"prefill_s_mean": acc["prefill_s_mean"], "n_needles": acc["n_needles"]}
            for b in budgets if "domain" in task_list else ():
                items = kv_domain.domain_items(llm.tokenizer, domain_n, b, placements, seed=domain_seed)
                meta[str(b)] = [it.meta() for it in items]
                acc = kv_eval.run(llm, items=items, configs=domain_configs, max_new=kv_domain.MAX_NEW,
                                  stop=llm.tokenizer.eos_id, progress=log)
                rows += [dict(r, model=label, budget=b) for r in acc["rows"]]
                extra.setdefault(label, {})[f"domain_{b}_prefill_s_mean"] = acc["prefill_s_mean"]
            if speed_context and speed is None:
                speed = kv_eval.decode_speed(llm, speed_context)
            del llm
        labels = [m for m, _ in models]
        main = "base" if "base" in labels else labels[0]
        peer_rows = json.loads(Path(peers).read_text())["rows"] if peers else []
        report = {"command": "longhaul eval kv " + " ".join(sys.argv[3:]), "machine": platform.processor() or
                  platform.machine(), "cpus": os.cpu_count(), "device": device, "threads": threads,
                  "load_average_start": [round(x, 2) for x in load_start],
                  "load_average_end": [round(x, 2) for x in os.getloadavg()],
                  "compute_dtype": str(dtype).removeprefix("torch."), "attention_backend": backend,
                  "torch": torch.__version__, "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                  "model": model if model not in MODELS else "SmolLM2-135M-Instruct Q4_1 GGUF" +
                  (" (tuned: + engine/adapters/smollm2-orders LoRA, YaRN x4)" if model != "base" else ""),
                  "models": labels, "tasks": list(task_list), "notes": notes,
                  "n_per_cell": {f"{r['model']}/{r['task']}/{r.get('budget', 'needles')}": r["n"] for r in rows},
                  **kv_report.headline({"rows": rows}, speed, peer_rows, main),
                  **(kv_report.domain_headline(rows, labels) if "domain" in task_list else {}),
                  "speed_8k": speed, "per_model": extra, "domain_items": meta,
                  "rows": rows + list(peer_rows)}
        for r in report["rows"]:
            typer.echo(f"{r.get('model', '-'):6} {r.get('task', 'passkey'):8} {r['system']:9} {r['question']:7} "
                       f"{r['policy']:13} {r['ratio']:>4} {r['kv_dtype']:12} n {r.get('n', 0):>3} "
                       f"acc {r['accuracy']:.2f} agree {r.get('agreement', float('nan')):.2f} "
                       f"bytes {r.get('kv_bytes_vs_full', float('nan')):.3f}")
        if out:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            Path(out).write_text(json.dumps(report, indent=1) + "\n")
        if as_json:
            typer.echo(json.dumps(report))
