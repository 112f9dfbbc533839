"""`longhaul serve`: the HTTP API under uvicorn, with JSON logs; `--gpus N` serves one ring-parallel engine."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer


def ring_command(gpus: int, host: str, port: int, log_level: str) -> list[str]:
    """The torchrun command that re-runs `longhaul serve` as ``gpus`` ranks (rendezvous on a free local port)."""
    if gpus < 2:
        raise ValueError(f"a ring needs --gpus >= 2, got {gpus}: use --gpus 1 for a single-device server")
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(gpus),
            "-m", "app.cli", "serve", "--host", host, "--port", str(port), "--log-level", log_level,
            "--gpus", str(gpus)]


def grace(seconds: float) -> int:
    """uvicorn's ``timeout_graceful_shutdown`` (whole seconds): on SIGTERM, requests still running after it are
    cancelled, then the app's shutdown stops the writer within the same grace."""
    return max(1, round(seconds))


def check_gpus(gpus: int, visible: int | None) -> None:
    """Raise ValueError unless ``gpus`` ranks fit ``visible`` CUDA devices (None: no CUDA, ranks run on CPU/gloo)."""
    if gpus < 1:
        raise ValueError(f"--gpus must be >= 1, got {gpus}")
    if visible is not None and gpus > visible:
        raise ValueError(f"--gpus {gpus} but only {visible} CUDA devices are visible: lower --gpus or check "
                         "CUDA_VISIBLE_DEVICES")


def _serve_ring(gpus: int, host: str, port: int, log_level: str) -> None:
    """Under torchrun: rank 0 serves HTTP with a `RingLLM`, the other ranks follow its requests."""
    import uvicorn

    from app.api.main import create_app
    from app.core.settings import get_settings
    from app.services.answers import pipeline_for
    from app.services.batching import BatchingEmbedder
    from app.services.retrievers import RetrieverCache
    from engine.parallel.llm import RingLLM
    from retrieval.embed import Embedder

    if int(os.environ["WORLD_SIZE"]) != gpus:
        raise ValueError(f"WORLD_SIZE is {os.environ['WORLD_SIZE']} but --gpus is {gpus}: launch with "
                         f"--nproc-per-node {gpus}")
    settings = get_settings()
    llm = RingLLM.load(threads=settings.threads or None)
    if llm.rank > 0:
        llm.follow()
        return
    try:
        embedder = BatchingEmbedder(Embedder())
        retrievers = RetrieverCache(settings, embedder=embedder)
        pipeline = pipeline_for(settings, llm=llm, retrievers=retrievers)
        app = create_app(settings, pipeline=pipeline, embedder=embedder, retrievers=retrievers)
        uvicorn.run(app, host=host, port=port, log_config=None, log_level=log_level, access_log=False,
                    timeout_graceful_shutdown=grace(settings.shutdown_grace_s))
    finally:
        llm.close()


def register(cli: typer.Typer) -> None:
    @cli.command()
    def serve(
        host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
        log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
        gpus: Annotated[int, typer.Option(help="Ranks of one ring-parallel engine (torchrun); 1 = one device.",
                                          min=1)] = 1,
    ) -> None:
        """Serve the question, documents, jobs and admin API (settings from LONGHAUL_* variables)."""
        from app.core.logs import setup_logging

        setup_logging(log_level.upper())
        if gpus > 1:
            import subprocess

            import torch

            check_gpus(gpus, torch.cuda.device_count() if torch.cuda.is_available() else None)
            if "WORLD_SIZE" not in os.environ:  # the launcher: re-run this command as N ranks
                raise typer.Exit(subprocess.call(ring_command(gpus, host, port, log_level)))
            _serve_ring(gpus, host, port, log_level)
            return
        import uvicorn

        from app.api.main import create_app
        from app.core.settings import get_settings

        settings = get_settings()
        uvicorn.run(create_app(settings), host=host, port=port, log_config=None, log_level=log_level,
                    access_log=False, timeout_graceful_shutdown=grace(settings.shutdown_grace_s))
