"""`longhaul bench service`: the HTTP service under closed-loop load (retrieval-only and full modes at several
concurrency levels); starts its own uvicorn on a generated tenant unless --url is given. JSON last line."""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prepare(work_dir: Path, tokens: int, tenant: str) -> tuple[Path, list[str]]:
    """Generate and ingest the corpus once (reused on later runs); returns the data dir and the questions."""
    from app.core.db import Database
    from app.core.settings import Settings
    from app.core.tenants import docs_dir
    from app.services.documents import DocumentStore
    from eval.corpora import generated

    corpus = generated(work_dir / f"corpus_{tokens}", tokens=tokens, seed=3, tenant="demo")
    settings = Settings(data_dir=work_dir / "data")
    if not (settings.tenant_dir(tenant) / "index" / "LIVE").exists():
        shutil.rmtree(docs_dir(settings, tenant), ignore_errors=True)
        shutil.copytree(corpus / "docs", docs_dir(settings, tenant))
        with Database.of(settings) as db:
            DocumentStore(settings, db.sessions)._ingest(tenant)
    questions = [json.loads(line)["question"] for line in (corpus / "questions.jsonl").open()]
    return settings.data_dir, questions


def register(bench: typer.Typer) -> None:
    @bench.command("service")
    def service(
        url: Annotated[str | None, typer.Option(help="A running server; default: start one here.")] = None,
        key: Annotated[str | None, typer.Option(help="API key for --url.")] = None,
        modes: Annotated[str, typer.Option(help="Comma-separated modes.")] = "retrieval_only,hybrid",
        levels: Annotated[str, typer.Option(help="Comma-separated concurrency levels.")] = "1,8,32",
        seconds: Annotated[float, typer.Option(help="Duration of each level.")] = 60.0,
        rerank: Annotated[bool, typer.Option(help="Rerank with the cross-encoder.")] = False,
        tokens: Annotated[int, typer.Option(help="Generated corpus size.")] = 30_000,
        work_dir: Annotated[Path, typer.Option(help="Corpus and index.")] = Path(".longhaul/bench_service"),
        out_dir: Annotated[Path, typer.Option(help="Where the results file goes.")] = Path("eval/results"),
        ttft_requests: Annotated[int, typer.Option(help="Streamed answers timed for time to first token, per "
                                                        "generating mode (0: none).")] = 3,
        as_json: Annotated[bool, typer.Option("--json", help="JSON on the last line.")] = False,
    ) -> None:
        """Requests/s, p50/p99, 5xx, 429s and lost requests per mode x concurrency; time to first token."""
        from rich.console import Console

        from eval.bench import service as bench_service

        console = Console(stderr=True)
        proc = None
        tenant = "bench"
        data_dir, questions = _prepare(work_dir, tokens, tenant)
        try:
            if url is None:
                from app.core.db import Database
                from app.core.settings import Settings
                from app.services.keys import create_key

                with Database.of(Settings(data_dir=data_dir)) as db, db.sessions() as s:
                    key, _ = create_key(s, tenant, ["agent"], name="bench")
                port = _free_port()
                url = f"http://127.0.0.1:{port}"
                env = {**os.environ, "LONGHAUL_DATA_DIR": str(data_dir)}
                env.pop("LONGHAUL_REDIS_URL", None)
                proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "app.api.main:create_app",
                                         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                                        env=env, stdout=subprocess.DEVNULL, stderr=(work_dir / "server.log").open("w"))
                _wait_up(url)
            if not key:
                raise ValueError("--url needs --key")
            console.print(f"[cyan]bench service[/] {url}: modes {modes}, levels {levels}, {seconds:.0f} s each")
            summary = bench_service.run(url, key, questions, modes.split(","),
                                        [int(x) for x in levels.split(",")], seconds, extra={"rerank": rerank},
                                        ttft_requests=ttft_requests)
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(30)
        summary.update(command=" ".join(["longhaul bench service", *sys.argv[3:]]), machine=platform.node(),
                       cpus=os.cpu_count(), date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), rerank=rerank,
                       corpus_tokens=tokens)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"service_{time.strftime('%Y%m%d_%H%M%S')}.json").write_text(json.dumps(summary, indent=1))
        for lv in summary["levels"]:
            console.print(f"{lv['mode']:>15} c={lv['concurrency']:<3} {lv['rps']:7.2f} req/s  p50 {lv['p50_ms']} ms"
                          f"  p99 {lv['p99_ms']} ms  5xx {lv['errors_5xx']}  429 {lv['rejected_429']}"
                          f"  lost {lv['lost']}")
        for t in summary["ttft"]:
            console.print(f"{t['mode']:>15} time to first token p50 {t['client_ttft_p50_ms']} ms (server "
                          f"{t['server_ttft_p50_ms']} ms) of {t['total_p50_ms']} ms, {t['with_tokens']}/"
                          f"{t['requests']} streamed tokens")
        if as_json:
            typer.echo(json.dumps(summary))


def _wait_up(url: str, timeout_s: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise RuntimeError(f"the server at {url} did not come up in {timeout_s:.0f} s")
