"""Start ranks: `init_from_env` under torchrun (NCCL on GPU), `run_local` for N gloo processes on this machine.

Every process group gets a timeout, so a rank that dies or never arrives makes the others fail with an error
instead of hanging.
"""

from __future__ import annotations

import os
import socket
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for a local rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def init_from_env(backend: str | None = None, timeout_s: float = 600.0) -> tuple[int, int]:
    """Join the process group described by torchrun's environment; returns ``(rank, world_size)``.

    ``backend`` defaults to NCCL when CUDA is available (each rank then uses GPU ``LOCAL_RANK``), else gloo.
    """
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise ValueError("RANK/WORLD_SIZE are not set: launch with `torchrun --nproc-per-node N ...`")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    return dist.get_rank(), dist.get_world_size()


def _worker(rank: int, world: int, port: int, timeout_s: float, fn: Callable[..., Any], args: tuple[Any, ...],
            results: Any) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=timeout_s))
    try:
        results.put((rank, fn(rank, world, *args), None))
    except BaseException as exc:  # reported to the parent, which raises it
        results.put((rank, None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    finally:
        dist.destroy_process_group()


def run_local(fn: Callable[..., Any], world: int, *args: Any, timeout_s: float = 60.0) -> list[Any]:
    """Run ``fn(rank, world, *args)`` in ``world`` fresh processes joined by gloo on 127.0.0.1; results by rank.

    ``fn`` must be importable (a module-level function). Raises RuntimeError carrying every failing rank's error.
    """
    if world < 1:
        raise ValueError(f"world must be >= 1, got {world}")
    ctx = mp.get_context("spawn")
    results = ctx.SimpleQueue()
    mp.start_processes(_worker, args=(world, free_port(), timeout_s, fn, args, results), nprocs=world, join=True,
                       start_method="spawn")
    out: list[Any] = [None] * world
    errors: list[str] = []
    for _ in range(world):
        rank, value, error = results.get()
        out[rank] = value
        if error is not None:
            errors.append(f"rank {rank}: {error}")
    if errors:
        raise RuntimeError("\n".join(sorted(errors)))
    return out
