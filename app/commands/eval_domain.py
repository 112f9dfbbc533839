"""`longhaul eval domain`: answer accuracy per question type and packed length, base vs domain-tuned model.

By default it reports the GPU measurement recorded in ``eval/results/domain_gpu.json`` (held-out seeds, greedy,
both models); ``--run`` measures here on the CPU engine instead (slow: a few items per cell).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer


def _print_table(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    by_budget = summary.get("accuracy_by_type", {})
    t = Table(title="answer accuracy, base -> tuned (held-out seeds)")
    t.add_column("type")
    for b in by_budget:
        t.add_column(f"{int(b) // 1024}K", justify="right")
    types = sorted({ty for d in by_budget.values() for ty in d})

    def cell(v: dict[str, float | None] | None) -> str:
        if not v:
            return "-"
        f = ["-" if x is None else f"{x:.2f}" for x in (v.get("base"), v.get("tuned"))]
        return f"{f[0]} -> {f[1]}"

    for ty in types:
        t.add_row(ty, *(cell(by_budget[b].get(ty)) for b in by_budget))
    Console().print(t)
    typer.echo(f"usable context (lookup >= 50%): tuned {summary['usable_context_tokens']:,} tokens, "
               f"base {summary.get('usable_context_tokens_base', 0):,}")


def register(eval_group: typer.Typer) -> None:
    @eval_group.command("domain")
    def domain(
        results: Annotated[Path, typer.Option(help="Recorded GPU results to report.")] = Path(
            "eval/results/domain_gpu.json"),
        run: Annotated[bool, typer.Option(help="Measure here with the CPU engine instead of reading results.")] = False,
        data: Annotated[Path, typer.Option(help="Held-out eval prompts (from `longhaul train llm`).")] = Path(
            ".tune/data/eval.jsonl.xz"),
        adapter: Annotated[Path, typer.Option(help="Adapter folder with manifest.json.")] = Path(
            "engine/adapters/smollm2-orders"),
        no_adapter: Annotated[bool, typer.Option("--no-adapter", help="With --run: the base model only.")] = False,
        per: Annotated[int, typer.Option(help="With --run: items per (type, budget).")] = 2,
        budgets: Annotated[str, typer.Option(help="With --run: comma-separated packed budgets.")] = "2048,4096",
        weights: Annotated[str, typer.Option(help="With --run: the CPU weight format (fp32, int8, q4).")] = "fp32",
        json_out: Annotated[bool, typer.Option("--json", help="JSON object on the last line.")] = False,
    ) -> None:
        """Accuracy by question type at 2K..32K packed tokens, with and without the domain adapter."""
        from eval.tuning.report import summary

        if not run:
            if not results.exists():
                raise FileNotFoundError(f"{results} does not exist: run `longhaul train llm` on a GPU host, or "
                                        "pass --run to measure here")
            rec = json.loads(results.read_text())
            s = summary(rec["tables"])
            out = {**s, "bars": rec.get("bars", {}), "source": str(results), "run": rec.get("run", {})}
        else:
            out = _run_here(data, adapter, no_adapter, per, budgets, weights)
        out |= pipeline_keys(results.parent)
        if not json_out:
            _print_table(out)
            if "gold_in_context_recall" in out:
                typer.echo(f"pipeline ({out['pipeline_source']}): gold in context {out['gold_in_context_recall']}, "
                           f"verification flags {out['verify_flag_rate_corrupted']} of corrupted answers, "
                           f"{out['verify_false_flag_rate']} of correct ones")
        typer.echo(json.dumps(out))


def pipeline_keys(results_dir: Path) -> dict[str, Any]:
    """The answer pipeline's domain numbers (`longhaul eval pipeline`), newest run first, for the same JSON line.

    ``accuracy_by_type`` above is the model's (per packed budget, base vs tuned); the pipeline's end-to-end
    accuracy per question type is ``pipeline_accuracy_by_type``.
    """
    runs = []
    for f in sorted(results_dir.glob("pipeline_*.json")):
        rec = json.loads(f.read_text())
        if "gold_in_context_recall" in rec:
            runs.append((str(rec.get("date", "")), f, rec))
    if not runs:
        return {}
    runs.sort(key=lambda r: r[0], reverse=True)
    _, f, newest = runs[0]
    out: dict[str, Any] = {k: newest.get(k) for k in ("gold_in_context_recall", "verify_flag_rate_corrupted",
                                                       "verify_false_flag_rate")}
    out["pipeline_source"] = str(f)
    with_acc = [r for r in runs if "accuracy_by_type" in r[2] and r[2].get("answer_mode", "hybrid") == "hybrid"]
    if with_acc:
        out["pipeline_accuracy_by_type"] = with_acc[0][2]["accuracy_by_type"]
        out["pipeline_accuracy_source"] = str(with_acc[0][1])
    return out


def _run_here(data: Path, adapter: Path, no_adapter: bool, per: int, budgets: str,
              weights: str = "fp32") -> dict[str, Any]:
    from eval.tuning.data import read_examples
    from eval.tuning.local_eval import load_engine, score
    from eval.tuning.report import summary

    if not data.exists():
        raise FileNotFoundError(f"{data} does not exist: build it with `longhaul train llm --build-only`")
    try:
        wanted = {int(b) for b in budgets.split(",") if b.strip()}
    except ValueError as exc:
        raise ValueError(f"--budgets must be comma-separated integers like 2048,4096, got {budgets!r}") from exc
    rows = [r for r in read_examples(data) if r["budget"] in wanted]
    tables: dict[str, Any] = {}
    for name, path in (("base", None), ("tuned", None if no_adapter else adapter)):
        if name == "tuned" and no_adapter:
            continue
        llm = load_engine(path, weights=weights)

        def gen(prompt: str, llm: Any = llm) -> str:
            return str(llm.generate(prompt, max_new_tokens=96, stop=["<|im_end|>"], chat=False).text)

        tables[name], _ = score(gen, rows, per)
    return {**summary(tables), "source": "cpu engine (this machine)", "per_cell": per, "weights": weights}
