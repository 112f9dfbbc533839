"""`longhaul serve --gpus 2` end to end on this CPU: torchrun starts two gloo ranks, rank 0 serves HTTP with a
`RingLLM`, rank 1 follows, and a question over HTTP gets a verified answer citing the planted evidence."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow
LONGHAUL = [sys.executable, "-m", "app.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run([*LONGHAUL, *args], env=env, capture_output=True, text=True, timeout=300, check=True)
    return done.stdout


def test_ring_served_answer_is_verified(tmp_path: Path) -> None:
    env = {**os.environ, "LONGHAUL_DATA_DIR": str(tmp_path / "data"), "LONGHAUL_THREADS": "1"}
    env.pop("LONGHAUL_REDIS_URL", None)
    _cli(["generate", "--out", str(tmp_path / "corpus"), "--tokens", "20000", "--seed", "7"], env)
    _cli(["ingest", str(tmp_path / "corpus" / "docs"), "--tenant", "rt"], env)
    key = json.loads(_cli(["keys", "create", "--tenant", "rt", "--scope", "agent", "--json"], env).splitlines()[-1])
    secret = key.get("secret") or key["key"]
    q = next(json.loads(line) for line in (tmp_path / "corpus" / "questions.jsonl").read_text().splitlines()
             if json.loads(line)["type"] == "single_needle")
    port = _free_port()
    proc = subprocess.Popen([*LONGHAUL, "serve", "--gpus", "2", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=(tmp_path / "serve.log").open("w"),
                            start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        r = httpx.post(url + "/v1/ask", headers={"Authorization": f"Bearer {secret}"}, timeout=300,
                       json={"question": q["question"], "mode": "hybrid", "use_cache": False})
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["verified"], out["answer"]
        assert all(a in out["answer"] for a in q["accept"]), (out["answer"], q["accept"])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
