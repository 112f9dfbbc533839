"""`longhaul train reranker`: mine pairs from generated corpora and train the domain cross-encoder artifact."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def _seeds(spec: str) -> list[int]:
    try:
        if "-" in spec:
            lo, hi = (int(x) for x in spec.split("-"))
            return list(range(lo, hi + 1))
        return [int(x) for x in spec.split(",")]
    except ValueError as exc:
        raise ValueError(f"--seeds {spec!r}: use a range like 101-108 or a list like 101,102") from exc


def register(train: typer.Typer) -> None:
    @train.command("reranker")
    def reranker(
        seeds: str = typer.Option("101-108", help="corpus seeds (keep the bench seed out)"),
        tokens: int = typer.Option(250_000, help="tokens per generated corpus"),
        work_dir: Path = typer.Option(Path(".longhaul/train_reranker"), help="corpora and pairs.jsonl go here"),
        pairs: Path | None = typer.Option(None, help="train from this pairs.jsonl instead of mining"),
        pairs_only: bool = typer.Option(False, help="only mine pairs (e.g. to train on a GPU host)"),
        out: Path = typer.Option(Path("retrieval/artifacts/reranker"), help="artifact directory"),
        layers: int = typer.Option(2, help="top encoder layers to train"),
        epochs: int = typer.Option(3, help="epochs"),
        as_json: bool = typer.Option(False, "--json", help="print the manifest as JSON on the last line"),
    ) -> None:
        """Train MiniLM's top layers + a head as a cross-encoder on pairs from generated corpora (GPU if present;
        about 2 h on a 2-core CPU, under a minute on an H200)."""
        from rich.console import Console

        from retrieval.assets import minilm_dir
        from retrieval.rerank_train import TrainConfig, train

        console = Console(stderr=True)
        if pairs is None:
            from app.commands.generate import token_counter
            from engine.tokenizer import load_tokenizer
            from eval.corpora import generated
            from eval.tuning.reranker_data import mine_pairs

            count = load_tokenizer().count
            mined = []
            for seed in _seeds(seeds):
                corpus = generated(work_dir / f"seed{seed}", tokens=tokens, seed=seed, tenant="train",
                                   questions_per_type=8, count=token_counter("estimate")[0])
                mined += mine_pairs(corpus, count, seed=seed)
                console.print(f"seed {seed}: {len(mined)} pairs so far")
            pairs = work_dir / "pairs.jsonl"
            pairs.write_text("".join(json.dumps(p) + "\n" for p in mined))
        if not pairs.exists():
            raise FileNotFoundError(f"{pairs} does not exist: omit --pairs to mine them from generated corpora")
        if pairs_only:
            typer.echo(json.dumps({"pairs": str(pairs)}))
            return
        data = [json.loads(x) for x in pairs.read_text().splitlines() if x.strip()]
        manifest = train(data, minilm_dir(), out, TrainConfig(train_layers=layers, epochs=epochs))
        console.print(f"artifact in {out}: held-out MRR {manifest['heldout_after']['mrr']}")
        if as_json:
            typer.echo(json.dumps(manifest))
