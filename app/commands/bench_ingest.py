"""`longhaul bench ingest`: retrieval-only asks on one tenant while another tenant uploads a large single-line
document, over HTTP against a real uvicorn: the writers in their child process (the service's default) against the
peer, the writers on a thread of the API process, in the same run. JSON last line."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from fastapi import FastAPI

TOKENIZER_CACHE = Path("cache") / "tokenizers"


def hashing_app() -> FastAPI:
    """The service with the feature-hashing embedder (`uvicorn --factory app.commands.bench_ingest:hashing_app`)."""
    from app.api.main import create_app
    from eval.bench.ingest_isolation import HashingEmbedder

    return create_app(embedder=HashingEmbedder())


def prepare(data_dir: Path, embedder: str) -> tuple[list[str], str, str]:
    """The quiet tenant's notes ingested, keys for both tenants, the tokenizer's conversion cached in the data dir
    (a fresh deployment's first ingest pays it once; the bench measures the steady state)."""
    from app.core.db import Database
    from app.core.settings import Settings
    from app.services.ingest import ingest_directory
    from app.services.keys import create_key
    from engine import tokenizer
    from eval.bench.ingest_isolation import HashingEmbedder, quiet_corpus
    from retrieval.embed import Embedder

    settings = Settings(data_dir=data_dir)
    docs, questions = quiet_corpus()
    folder = data_dir.parent / "quiet_docs"
    for doc_id, text in docs.items():
        (folder / doc_id).parent.mkdir(parents=True, exist_ok=True)
        (folder / doc_id).write_text(text)
    model: Any = HashingEmbedder() if embedder == "hash" else Embedder()
    with Database.of(settings) as db:
        ingest_directory(folder, "quiet", settings, db.sessions, embedder=model)
        with db.sessions() as s:
            quiet_key, _ = create_key(s, "quiet", ["agent"], name="bench ingest")
            busy_key, _ = create_key(s, "busy", ["admin"], name="bench ingest")
    shutil.copytree(tokenizer.DEFAULT_CACHE, data_dir / TOKENIZER_CACHE, dirs_exist_ok=True)
    return questions, quiet_key, busy_key


def serve(data_dir: Path, isolation: str, embedder: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    from app.commands.bench_service import _free_port, _wait_up

    port = _free_port()
    factory = "app.commands.bench_ingest:hashing_app" if embedder == "hash" else "app.api.main:create_app"
    env = {**os.environ, "LONGHAUL_DATA_DIR": str(data_dir), "LONGHAUL_INGEST_ISOLATION": isolation,
           "LONGHAUL_RATE_LIMIT_PER_MINUTE": str(10**8)}  # one client asks back to back: the key's limit is not timed
    env.pop("LONGHAUL_REDIS_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1",
                             "--port", str(port), "--log-level", "warning", "--timeout-graceful-shutdown", "5"],
                            env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"))
    url = f"http://127.0.0.1:{port}"
    _wait_up(url)
    return proc, url


def run(work_dir: Path, mb: float, embedder: str, idle_asks: int) -> dict[str, Any]:
    """Both isolations, each on a fresh copy of one prepared data dir."""
    from eval.bench.ingest_isolation import Plan, measure, single_line_document

    shutil.rmtree(work_dir, ignore_errors=True)
    prepared = work_dir / "prepared" / "data"
    questions, quiet_key, busy_key = prepare(prepared, embedder)
    document = single_line_document(int(mb * 2**20))
    out: dict[str, Any] = {}
    for isolation in ("process", "thread"):
        data_dir = work_dir / isolation / "data"
        shutil.copytree(prepared, data_dir)
        proc, url = serve(data_dir, isolation, embedder, work_dir / f"server_{isolation}.log")
        try:
            out[isolation] = measure(Plan(url, quiet_key, busy_key, questions, document, idle_asks=idle_asks))
        finally:
            proc.terminate()
            proc.wait(30)
    out["busy_p99_thread_over_process"] = round(out["thread"]["busy_p99_ms"] / out["process"]["busy_p99_ms"], 3)
    return out


def register(bench: typer.Typer) -> None:
    @bench.command("ingest")
    def ingest(
        mb: Annotated[float, typer.Option(help="Size of the single-line document, in MiB.", min=0.01)] = 2.0,
        embedder: Annotated[str, typer.Option(help="hash (feature hashing: the ingest without the model) or model "
                                                   "(MiniLM, for queries and documents).")] = "hash",
        idle_asks: Annotated[int, typer.Option(help="Retrieval-only asks timed before the upload.", min=20)] = 300,
        work_dir: Annotated[Path, typer.Option(help="Data dirs and server logs.")] = Path(".longhaul/bench_ingest"),
        out_dir: Annotated[Path, typer.Option(help="Where the results file goes.")] = Path("eval/results"),
        as_json: Annotated[bool, typer.Option("--json", help="JSON on the last line.")] = False,
    ) -> None:
        """p99 of retrieval-only asks idle and during a large upload on another tenant; writers in a child process
        vs on a thread (the peer)."""
        if embedder not in ("hash", "model"):
            raise typer.BadParameter(f"--embedder {embedder!r}: choose hash or model")
        load_before = os.getloadavg()
        summary = run(work_dir, mb, embedder, idle_asks)
        summary.update(command=" ".join(["longhaul bench ingest", *sys.argv[3:]]), machine=platform.node(),
                       cpus=os.cpu_count(), date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       embedder=embedder, document_mib=mb, loadavg_before=load_before,
                       loadavg_after=os.getloadavg())
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"bench_ingest_{time.strftime('%Y%m%d_%H%M%S')}.json").write_text(json.dumps(summary, indent=1))
        for isolation in ("process", "thread"):
            r = summary[isolation]
            typer.echo(f"{isolation:>8}: idle p99 {r['idle_p99_ms']} ms, during the upload p99 {r['busy_p99_ms']} ms "
                       f"(x{r['ratio']}), upload {r['ingest_s']} s, {r['chunks_total']} chunks", err=True)
        if as_json:
            typer.echo(json.dumps(summary))
