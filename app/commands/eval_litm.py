"""`longhaul eval litm`: lost-in-the-middle sweep of the real engine, per packing order."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer


def register(evals: typer.Typer) -> None:
    @evals.command("litm")
    def litm(
        tokens: Annotated[int, typer.Option(help="Size of the held-out corpus the items come from.")] = 60_000,
        seed: Annotated[int, typer.Option(help="Corpus seed (held out from tuning).")] = 9100,
        items: Annotated[int, typer.Option(help="Lookup items.")] = 8,
        positions: Annotated[int, typer.Option(help="Gold positions swept.")] = 10,
        budget: Annotated[int, typer.Option(help="Packed prompt budget in tokens.")] = 1536,
        orders: Annotated[str, typer.Option(help="Comma-separated packing orders.")] = "retrieval,reorder,ours,"
                                                                                        "ours_placement",
        device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
        adapter: Annotated[bool, typer.Option(help="Merge the bundled domain adapter.")] = True,
        out: Annotated[Path, typer.Option(help="Results file (a PNG is written beside it).")] = Path(
            "eval/results/litm.json"),
        json_out: Annotated[bool, typer.Option("--json", help="Results as JSON, last line.")] = False,
    ) -> None:
        """Move the gold record through the ranking; accuracy per position for each packing order."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from app.settings import get_settings
        from engine.adapters import default_adapter
        from engine.llm import LLM
        from eval.corpus import CorpusConfig, generate_corpus
        from eval.litm import litm_sweep, plot_litm
        from eval.litm_items import litm_items

        console = Console(stderr=True)
        corpus = get_settings().data_dir / "samples" / f"litm-{tokens}-{seed}"
        llm = LLM.load(device=device, adapter=default_adapter() if adapter else None)
        if not (corpus / "stats.json").exists():
            generate_corpus(corpus, CorpusConfig(tokens=tokens, seed=seed, questions_per_type=max(4, items)),
                            lambda lines: sum(llm.tokenizer.count(x) + 1 for x in lines))
        its = litm_items(corpus, llm.tokenizer.count, n_distractors=max(positions - 1, 9), max_items=items)

        def ask(prompt: str) -> str:
            return llm.generate(prompt, max_new_tokens=48, stop=["<|im_end|>"]).text

        with Progress(TextColumn("litm"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console) as bar:
            task = bar.add_task("sweep", total=None)
            result = litm_sweep(its, llm.tokenizer, budget, ask, positions=positions, orders=orders.split(","),
                                progress=lambda d, t: bar.update(task, completed=d, total=t))
        result.update({"command": "longhaul eval litm " + " ".join(
            f"--{k} {v}" for k, v in (("tokens", tokens), ("seed", seed), ("items", items), ("positions", positions),
                                      ("budget", budget), ("device", device))) + ("" if adapter else " --no-adapter"),
            "machine": f"{platform.machine()} {platform.node()}", "date": datetime.now(UTC).isoformat(),
            "adapter": adapter, "corpus": str(corpus)})
        out.parent.mkdir(parents=True, exist_ok=True)
        result = json.loads(json.dumps(result).replace("NaN", "null"))  # strict JSON: no gold slot = null
        out.write_text(json.dumps(result, indent=2) + "\n")
        plot_litm(result, out.with_suffix(".png"))
        summary = {k: v for k, v in result.items() if k.startswith("litm_worst_over_best")}
        if json_out:
            typer.echo(json.dumps(result))
        else:
            Console().print(summary)
