"""`longhaul eval litm`: lost-in-the-middle sweep of the real engine, per packing order."""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer


def register(evals: typer.Typer) -> None:
    @evals.command("litm")
    def litm(
        tokens: Annotated[int, typer.Option(help="Size of the held-out corpus the items come from.")] = 60_000,
        seed: Annotated[int, typer.Option(help="Corpus seed (held out from tuning: >= 9000).")] = 9100,
        items: Annotated[int, typer.Option(help="Lookup items (each is asked at every rank, per order).")] = 10,
        positions: Annotated[int, typer.Option(help="Gold retrieval ranks swept (= records per item).")] = 10,
        budget: Annotated[int, typer.Option(help="Packed prompt budget in tokens.")] = 2048,
        types: Annotated[str, typer.Option(help="Comma-separated lookup question types.")] = "multi_key",
        orders: Annotated[str, typer.Option(help="Comma-separated packing orders.")] = "retrieval,reorder,ours,"
                                                                                        "ours_placement_only",
        device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
        threads: Annotated[int, typer.Option(help="torch CPU threads.")] = 1,
        max_new_tokens: Annotated[int, typer.Option(help="Answer length cap.")] = 32,
        adapter: Annotated[bool, typer.Option(help="Merge the bundled domain adapter.")] = True,
        notes: Annotated[str, typer.Option(help="Free text stored with the results.")] = "",
        out: Annotated[Path, typer.Option(help="Results file (a PNG is written beside it).")] = Path(
            "eval/results/litm.json"),
        json_out: Annotated[bool, typer.Option("--json", help="Results as JSON, last line.")] = False,
    ) -> None:
        """Move the gold record through the ranking; accuracy per rank for each packing order."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from app.core.settings import get_settings
        from engine.llm import LLM
        from eval.corpora import generated
        from eval.litm.items import litm_items
        from eval.litm.sweep import litm_sweep, plot_litm

        console = Console(stderr=True)
        load_before, t0 = os.getloadavg(), time.perf_counter()
        corpus = get_settings().data_dir / "samples" / f"litm-{tokens}-{seed}"
        llm = LLM.load(device=device, adapter="auto" if adapter else None, threads=threads)
        generated(corpus, tokens=tokens, seed=seed, tenant="demo", questions_per_type=max(4, items),
                  count=lambda lines: sum(llm.tokenizer.count(x) + 1 for x in lines))
        # Records short enough that all `positions` of them fit the budget with the question and instructions.
        record_tokens = (budget - 400) // positions
        its = litm_items(corpus, llm.tokenizer.count, n_distractors=positions - 1, max_items=items,
                         types=types.split(","), max_record_tokens=record_tokens)

        def ask(prompt: str) -> str:
            return llm.generate(prompt, max_new_tokens=max_new_tokens, stop=["<|im_end|>"]).text

        with Progress(TextColumn("litm"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console) as bar:
            task = bar.add_task("sweep", total=None)
            result = litm_sweep(its, llm.tokenizer, budget, ask, positions=positions, orders=orders.split(","),
                                progress=lambda d, t: bar.update(task, completed=d, total=t))
        opts = (("tokens", tokens), ("seed", seed), ("items", items), ("positions", positions), ("budget", budget),
                ("types", types), ("orders", orders), ("device", device), ("threads", threads),
                ("max-new-tokens", max_new_tokens))
        result.update({
            "command": "longhaul eval litm " + " ".join(f"--{k} {v}" for k, v in opts)
                       + ("" if adapter else " --no-adapter"),
            "machine": f"{platform.machine()} {platform.node()}, {os.cpu_count()} CPUs, torch threads {threads}",
            "date": datetime.now(UTC).isoformat(), "wall_s": round(time.perf_counter() - t0, 1),
            "load_average_start": [round(x, 2) for x in load_before],
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
            "adapter": llm.adapter, "corpus": str(corpus), "max_record_tokens": record_tokens, "notes": notes})
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        plot_litm(result, out.with_suffix(".png"))
        summary = {k: v for k, v in result.items() if k.startswith("litm_worst_over_best")}
        if json_out:
            typer.echo(json.dumps(result))
        else:
            Console().print(summary)
