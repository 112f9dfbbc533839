"""`RingLLM` over 2 and 3 gloo ranks equals the single-process `LLM`; `longhaul serve --gpus N` launch command."""

from __future__ import annotations

from collections.abc import Generator
from functools import cache
from typing import Any, cast

import pytest
import torch

PROMPTS = [[(7 * i + 3) % 256 for i in range(29)], [(11 * i + 5) % 256 for i in range(37)]]  # 29, 37: prime
NEW = 10
WORLDS = [2, pytest.param(3, marks=pytest.mark.slow)]  # 3 spawned ranks take ~20 s on 2 shared cores


def _summary(g: Any) -> dict[str, Any]:
    return {"token_ids": g.token_ids, "text": g.text, "finish_reason": g.finish_reason,
            "prompt_tokens": g.prompt_tokens}


def ring_llm_worker(rank: int, world: int) -> dict[str, Any]:
    """Rank 0: references from `LLM`, then the same requests through `RingLLM`; other ranks: `follow`."""
    from engine.llm import LLM
    from engine.parallel.llm import RingLLM
    from engine.tokenizer import load_tokenizer
    from tests.helpers.tiny import loud_tiny_model

    model = loud_tiny_model("tiny-llama3", max_seq_len=256)
    tok = load_tokenizer()
    ref: dict[str, Any] = {}
    if rank == 0:  # before apply_ring, which transforms the model in place
        single = LLM(model, tok, max_seq_len=256)
        ref["plain"] = [_summary(single.generate(p, max_new_tokens=NEW)) for p in PROMPTS]
        text = ref["plain"][0]["text"]
        ref["stop_str"] = text[len(text) // 2:len(text) // 2 + 2] or "zz"
        ref["stop"] = _summary(single.generate(PROMPTS[0], max_new_tokens=NEW, stop=[ref["stop_str"]]))
    llm = RingLLM(model, tok, max_seq_len=256)
    if rank > 0:
        return {"served": llm.follow(), "closed": llm.closed}
    out: dict[str, Any] = {"ref": ref, "plain": [_summary(llm.generate(p, max_new_tokens=NEW)) for p in PROMPTS]}
    out["stop"] = _summary(llm.generate(PROMPTS[0], max_new_tokens=NEW, stop=[ref["stop_str"]]))
    try:  # rejected on rank 0 before anything is broadcast: the ring stays usable
        llm.generate([], max_new_tokens=NEW)
        out["empty_error"] = "no error"
    except ValueError as exc:
        out["empty_error"] = str(exc)
    stream = cast(Generator[str, None, None], llm.stream(PROMPTS[1], max_new_tokens=NEW))
    out["first_piece"] = next(stream)
    stream.close()  # abandoned mid-decode: the followers are released
    out["after_stream"] = _summary(llm.generate(PROMPTS[1], max_new_tokens=NEW))
    llm.close()
    out["closed"] = llm.closed
    return out


@cache
def _results(world: int) -> list[dict[str, Any]]:
    from engine.parallel.launch import run_local

    return run_local(ring_llm_worker, world, timeout_s=120)


@pytest.mark.parametrize("world", WORLDS)
def test_ring_llm_greedy_equals_single_process(world: int) -> None:
    main = _results(world)[0]
    assert main["plain"] == main["ref"]["plain"]
    assert all(len(g["token_ids"]) == NEW and len(set(g["token_ids"])) > 1 for g in main["plain"])
    assert main["after_stream"] == main["ref"]["plain"][1]


@pytest.mark.parametrize("world", WORLDS)
def test_ring_llm_stop_string_equals_single_process(world: int) -> None:
    main = _results(world)[0]
    assert main["stop"] == main["ref"]["stop"]
    assert main["stop"]["finish_reason"] == "stop"


@pytest.mark.parametrize("world", WORLDS)
def test_followers_serve_every_request_and_exit_on_close(world: int) -> None:
    results = _results(world)
    assert results[0]["closed"] is True
    assert "prompt is empty" in results[0]["empty_error"]
    assert results[0]["first_piece"]
    # 2 plain + 1 stop + 1 abandoned stream + 1 after it; the rejected empty prompt never reached the followers
    assert [r["served"] for r in results[1:]] == [5] * (world - 1)
    assert all(r["closed"] is True for r in results[1:])


def _serve_cli() -> Any:
    import typer

    from app.commands.serve import register

    cli = typer.Typer()
    register(cli)

    @cli.callback()
    def _root() -> None:
        """A group, so that `serve` is a subcommand as in `longhaul serve`."""

    return cli


def test_ring_command_relaunches_serve_under_torchrun() -> None:
    import sys

    from app.commands.serve import ring_command

    cmd = ring_command(3, "0.0.0.0", 8123, "info")
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert cmd[cmd.index("--nproc-per-node") + 1] == "3"
    assert "--standalone" in cmd and not any("port" in a for a in cmd[:cmd.index("app.cli")])  # free port at run time
    assert cmd[cmd.index("app.cli") - 1:] == ["-m", "app.cli", "serve", "--host", "0.0.0.0", "--port", "8123",
                                               "--log-level", "info", "--gpus", "3"]
    with pytest.raises(ValueError, match="--gpus 1"):
        ring_command(1, "127.0.0.1", 8000, "info")


def test_check_gpus_rejects_more_ranks_than_devices() -> None:
    from app.commands.serve import check_gpus

    with pytest.raises(ValueError, match="CUDA_VISIBLE_DEVICES"):
        check_gpus(4, 2)
    with pytest.raises(ValueError, match=">= 1"):
        check_gpus(0, None)
    check_gpus(2, 2)
    check_gpus(3, None)  # no CUDA: gloo ranks on the CPU


def test_serve_gpus_launches_ranks_and_gpus_1_keeps_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    import uvicorn
    from typer.testing import CliRunner

    import app.api.main
    from app.commands.serve import ring_command

    launched: list[list[str]] = []
    served: list[Any] = []
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    def call(cmd: list[str]) -> int:
        launched.append(cmd)
        return 0

    monkeypatch.setattr(subprocess, "call", call)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append((app, kw)))
    monkeypatch.setattr(app.api.main, "create_app", lambda settings=None: "app")
    runner = CliRunner()
    result = runner.invoke(_serve_cli(), ["serve", "--gpus", "2", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert launched == [ring_command(2, "127.0.0.1", 8123, "info")] and not served
    result = runner.invoke(_serve_cli(), ["serve", "--port", "8124"])
    assert result.exit_code == 0, result.output
    assert served[0][0] == "app" and served[0][1]["port"] == 8124 and len(launched) == 1
    assert served[0][1]["timeout_graceful_shutdown"] == 5  # SIGTERM: requests get LONGHAUL_SHUTDOWN_GRACE_S
    assert runner.invoke(_serve_cli(), ["serve", "--gpus", "0"]).exit_code != 0


class _FakeRing:
    def __init__(self, rank: int) -> None:
        self.rank = rank
        self.calls: list[str] = []

    def follow(self) -> int:
        self.calls.append("follow")
        return 0

    def close(self) -> None:
        self.calls.append("close")


@pytest.mark.parametrize("rank", [0, 1])
def test_serve_under_torchrun_rank0_serves_others_follow(monkeypatch: pytest.MonkeyPatch, rank: int) -> None:
    import uvicorn
    from typer.testing import CliRunner

    import app.api.main
    import app.services.batching
    import retrieval.embed
    from engine.parallel.llm import RingLLM

    fake = _FakeRing(rank)
    apps: list[dict[str, Any]] = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(RingLLM, "load", classmethod(lambda cls, **kw: fake))
    monkeypatch.setattr(retrieval.embed, "Embedder", lambda: "embedder")
    monkeypatch.setattr(app.services.batching, "BatchingEmbedder", lambda e: f"batching({e})")

    def create_app(settings: Any, **kw: Any) -> str:
        apps.append(kw)
        return "app"

    monkeypatch.setattr(app.api.main, "create_app", create_app)
    monkeypatch.setattr(uvicorn, "run", lambda a, **kw: fake.calls.append(f"uvicorn:{a}:{kw['port']}"))
    result = CliRunner().invoke(_serve_cli(), ["serve", "--gpus", "2", "--port", "8125"])
    assert result.exit_code == 0, result.output
    if rank == 0:
        assert fake.calls == ["uvicorn:app:8125", "close"]
        assert apps[0]["pipeline"].llm is fake and apps[0]["embedder"] == "batching(embedder)"
    else:
        assert fake.calls == ["follow"] and not apps
    bad = CliRunner().invoke(_serve_cli(), ["serve", "--gpus", "3"])  # WORLD_SIZE 2 under torchrun
    assert bad.exit_code != 0 and "WORLD_SIZE is 2" in str(bad.exception)


TORCHRUN_SCRIPT = """
import json, os, sys
import torch
torch.set_num_threads(1)
from engine.parallel.llm import RingLLM
from tests.helpers.tiny import loud_tiny_model
llm = RingLLM.load("synthetic:tiny-llama3", max_seq_len=128, backend="gloo", timeout_s=60)
if llm.rank == 0:
    g = llm.generate(list(range(3, 26)), max_new_tokens=4)
    llm.close()
    json.dump({"tokens": g.token_ids, "world": llm.world}, open(sys.argv[1], "w"))
else:
    llm.follow()
"""


@pytest.mark.slow
def test_ring_llm_load_under_torchrun(tmp_path: Any) -> None:
    """`RingLLM.load` joins torchrun's group from the environment (the launch `serve --gpus N` uses)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from engine.llm import LLM

    script, out = tmp_path / "ring.py", tmp_path / "out.json"
    script.write_text(TORCHRUN_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3]), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           str(script), str(out)], env=env, timeout=180, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]  # torchrun's own report says which rank failed and why
    res = json.loads(out.read_text())
    ref = LLM.load("synthetic:tiny-llama3", max_seq_len=128).generate(list(range(3, 26)), max_new_tokens=4)
    assert res == {"tokens": ref.token_ids, "world": 2}
