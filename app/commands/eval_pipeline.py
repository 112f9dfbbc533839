"""`longhaul eval pipeline`: gold evidence in the packed context (per mode), verification of correct vs corrupted
answers, and accuracy / verified rate / latency per stage with the real model (hybrid, a few per type)."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from app.commands.options import TenantOption, demo_questions, tenant_or_default


def _load_questions(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def register(evals: typer.Typer) -> None:
    @evals.command("pipeline")
    def pipeline(
        tenant: TenantOption = None,
        questions: Annotated[Path | None, typer.Option(help="Ground truth (questions.jsonl of the tenant's corpus); "
                             "default: the `longhaul demo` sample's, DATA_DIR/samples/TENANT-200000-0.")] = None,
        modes: Annotated[str, typer.Option(help="Modes for the packed-context recall (no LLM).")] = (
            "hybrid,long_context"),
        budget: Annotated[int, typer.Option(help="Packed budget for recall and verification.")] = 3072,
        answer_budget: Annotated[int, typer.Option(help="Packed budget for the real-LLM answers.")] = 2048,
        per_type: Annotated[int, typer.Option(help="Questions per type answered by the real LLM (0 = skip).")] = 1,
        answer_mode: Annotated[str, typer.Option(help="Mode of the real-LLM answers.")] = "hybrid",
        k: Annotated[int, typer.Option(help="Retrieved records per question.")] = 24,
        threads: Annotated[int, typer.Option(help="torch threads.")] = 2,
        out: Annotated[Path, typer.Option(help="Results file.")] = Path("eval/results/pipeline_cpu.json"),
        world: Annotated[str, typer.Option(help="The generated world the tenant holds (a label).")] = "a",
        json_out: Annotated[bool, typer.Option("--json", help="JSON object on the last line.")] = False,
    ) -> None:
        """Retrieval + packing recall, verifier flag rates, and end-to-end accuracy of `longhaul ask`."""
        import torch

        from app.core.settings import get_settings
        from app.services.answers import AskOptions, constraints_of, lexicon_of, pipeline_for
        from engine.tokenizer import load_tokenizer
        from eval.pipeline.run import pick_per_type, score_answers, score_gold_recall, score_verification
        from packing.packer import pack
        from packing.verify import verify

        torch.set_num_threads(threads)
        settings = get_settings()
        settings.threads = threads
        tenant = tenant_or_default(tenant)
        questions = demo_questions(tenant, questions)
        qs = _load_questions(questions)
        tok = load_tokenizer()  # the bundled model's: recall and verification never load the model itself
        pipe = pipeline_for(settings)  # its engine loads on the first real-LLM answer
        vocab = pipe.vocabulary(tenant)
        lexicon = lexicon_of(vocab)  # once: the verifier's claims are cached by the lexicon object

        def context_fn(mode: str, b: int) -> Any:
            cache: dict[str, list[dict[str, str]]] = {}

            def context_of(question: str) -> list[dict[str, str]]:
                if question not in cache:
                    opts = AskOptions.of(mode=mode, budget=b, k=k)
                    ev = pipe.evidence(question, tenant, opts)  # the pipeline's own retrieval stage
                    packed = pack(question, ev, tok, b, order=opts.order, constraints=constraints_of(question, vocab))
                    cache[question] = [{"label": p.label, "text": p.rendered()} for p in packed.evidence]
                return cache[question]
            return context_of

        result: dict[str, Any] = {"recall": {}}
        for mode in modes.split(","):
            result["recall"][mode] = score_gold_recall(qs, context_fn(mode, budget))
            typer.echo(f"{mode}: gold_in_context_recall {result['recall'][mode]['gold_in_context_recall']}",
                       err=True)

        def verified(answer: str, texts: Any, given: str) -> bool:
            return verify(answer, texts, lexicon, given=given).verified

        result["verification"] = score_verification(qs, context_fn("hybrid", budget), verified)
        if per_type > 0:
            opts = AskOptions.of(mode=answer_mode, budget=answer_budget, k=k)
            picked = pick_per_type(qs, per_type)

            def ask(question: str) -> dict[str, Any]:
                a = pipe.ask(question, tenant, opts).to_json()
                typer.echo(f"  {question[:50]}: {a['timings_ms'].get('total', 0) / 1e3:.1f}s verified={a['verified']}",
                           err=True)
                return a
            result["answers"] = score_answers(picked, ask)
        summary = {
            "gold_in_context_recall": result["recall"].get("hybrid", next(iter(result["recall"].values())))[
                "gold_in_context_recall"],
            "gold_in_context_recall_by_mode": {m: r["gold_in_context_recall"] for m, r in result["recall"].items()},
            "gold_in_context_recall_by_type": {m: {t: c["rate"] for t, c in r["by_type"].items()}
                                               for m, r in result["recall"].items()},
            "verify_flag_rate_corrupted": result["verification"]["verify_flag_rate_corrupted"],
            "verify_false_flag_rate": result["verification"]["verify_false_flag_rate"],
        }
        if "answers" in result:
            summary.update({"answer_mode": answer_mode, "accuracy": result["answers"]["accuracy"],
                            "accuracy_by_type": result["answers"]["accuracy_by_type"],
                            "verified_rate": result["answers"]["verified_rate"],
                            "false_verified_rate": result["answers"]["false_verified_rate"],
                            "latency_ms_median": result["answers"]["latency_ms_median"]})
        cmd = (f"longhaul eval pipeline --tenant {tenant} --questions {questions} --modes {modes} --budget {budget} "
               f"--answer-budget {answer_budget} --per-type {per_type} --answer-mode {answer_mode} --k {k} "
               f"--threads {threads}")
        result.update(summary)
        summary["world"] = world
        result.update({"command": cmd + f" --world {world}", "tenant": tenant, "world": world,
                       "questions": str(questions), "budget": budget, "answer_budget": answer_budget,
                       "per_type": per_type, "k": k, "threads": threads,
                       "machine": f"{platform.machine()} {platform.node()}", "date": datetime.now(UTC).isoformat()})
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        typer.echo(json.dumps(result) if json_out else json.dumps(summary, indent=2))
