"""`longhaul bench retrieval`: ingest a generated tenant and measure retrieval against peers (JSON last line)."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import typer


def register(bench: typer.Typer) -> None:
    @bench.command("retrieval")
    def retrieval(
        corpus: Path | None = typer.Option(None, help="a `longhaul generate` output dir; default: generate one"),
        tokens: int = typer.Option(1_200_000, help="corpus size when generating"),
        seed: int = typer.Option(1, help="corpus seed when generating"),
        world: str = typer.Option("a", help="which generated world when generating (a or b; see corpus.WORLDS)"),
        work_dir: Path = typer.Option(Path(".longhaul/bench_retrieval"), help="corpus, index and SQLite go here"),
        reuse: bool = typer.Option(False, help="reuse the index (and ingest timings) already in --work-dir"),
        peer: bool = typer.Option(True, help="also measure the LangChain EnsembleRetriever peer"),
        threads: int = typer.Option(2, help="torch threads while ingesting (batched embedding)"),
        query_threads: int = typer.Option(1, help="torch threads while querying (1 avoids oversubscription)"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object on the last line"),
    ) -> None:
        """Recall@10/20/50 per question type (BM25, dense, hybrid, hybrid+rerank, LangChain), BM25 q/s vs
        rank-bm25, hybrid latency, ingest overhead over embedding time."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from rich.console import Console

        from app.core.db import Database
        from app.core.settings import Settings
        from app.core.tenants import index_root
        from app.services.ingest import ingest_directory
        from eval.bench import retrieval as bench_retrieval
        from eval.corpora import WORLD_NAMES, generated
        from retrieval.embed import Embedder
        from retrieval.retriever import Retriever

        if world not in WORLD_NAMES:
            raise typer.BadParameter(f"--world must be one of {sorted(WORLD_NAMES)}, got {world!r}")
        torch.set_num_threads(threads)
        console = Console(stderr=True)
        work_dir.mkdir(parents=True, exist_ok=True)
        if corpus is None:
            from app.commands.generate import token_counter

            corpus = generated(work_dir / f"corpus_{world}_{tokens}_{seed}", tokens=tokens, seed=seed, world=world,
                               count=token_counter("tokenizer")[0])
        questions_file = corpus / "questions.jsonl"
        if not questions_file.exists():
            raise FileNotFoundError(f"{questions_file} is missing: pass a `longhaul generate --out DIR` folder")
        stats_file = corpus / "stats.json"  # a corpus says its own world (world a's stats predate the key)
        world = str((json.loads(stats_file.read_text()) if stats_file.exists() else {}).get("world", world))
        questions = [json.loads(line) for line in questions_file.read_text().splitlines() if line.strip()]
        settings = Settings(data_dir=work_dir / "data")
        report_file = work_dir / "ingest_report.json"
        embedder = Embedder()
        if not (reuse and report_file.exists()):
            console.print(f"ingesting {corpus / 'docs'} (embedding on {threads} threads)...")
            with Database.of(settings) as db:
                report = asdict(ingest_directory(corpus / "docs", "bench", settings, db.sessions, embedder=embedder))
            report_file.write_text(json.dumps(report))
        report = json.loads(report_file.read_text())
        sec = report["seconds"]
        embed_s = sec.get("embed", 0.0)
        ingest = {
            "ingest_chunks": report["chunks_total"],
            "ingest_embedded": report["chunks_embedded"],
            "ingest_seconds": round(sec["total"], 2),
            "ingest_chunks_per_s": round(report["chunks_total"] / sec["total"], 2),
            "embed_chunks_per_s": round(report["chunks_embedded"] / embed_s, 2) if embed_s else None,
            "ingest_overhead_pct": round(100 * (sec["total"] - embed_s) / embed_s, 2) if embed_s else None,
            "ingest_seconds_by_stage": {k: round(v, 2) for k, v in sec.items()},
        }
        console.print("measuring retrieval...")
        torch.set_num_threads(query_threads)
        retriever = Retriever.live(index_root(settings, "bench"), embedder=embedder)
        result = bench_retrieval.run(retriever, questions, with_peer=peer)
        out = {
            "bench": "retrieval",
            "command": " ".join(["longhaul", *sys.argv[1:]]),
            "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, torch threads {threads} "
            f"(ingest) / {query_threads} (queries), load average {os.getloadavg()[0]:.1f}",
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "corpus": str(corpus),
            "world": world,
            **ingest,
            **result,
        }
        results = Path("eval/results")
        results.mkdir(parents=True, exist_ok=True)
        (results / f"bench_retrieval_{time.strftime('%Y%m%d_%H%M%S')}.json").write_text(json.dumps(out, indent=1))
        if as_json:
            typer.echo(json.dumps(out))
        else:
            keys = (
                "recall20_hybrid_rerank",
                "recall20_langchain",
                "bm25_qps_ratio_vs_rank_bm25",
                "hybrid_p50_ms",
                "hybrid_p99_ms",
                "rerank_p50_ms",
                "ingest_overhead_pct",
            )
            for k in keys:
                console.print(f"{k}: {out.get(k)}")
