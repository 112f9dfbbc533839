"""A real uvicorn serving the app on a free port, a throwaway redis-server, and the API tests' tenant setup."""


from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.core.settings import Settings
from app.services.cache import AnswerCache

ROOT = Path(__file__).resolve().parents[2]
GLOBEX_SECRET = "Globex vault note: order #777001 was rerouted through the ZEPHYR-9931 bonded facility."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`uvicorn --factory app.api.main:create_app` (or ``factory``) in a subprocess, with the shutdown grace
    `longhaul serve` uses; always stopped on exit."""

    def __init__(self, env: dict[str, str], log: Path, factory: str = "app.api.main:create_app") -> None:
        self.factory = factory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env, self.log = {**os.environ, **env}, log
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        cmd = [sys.executable, "-m", "uvicorn", "--factory", self.factory, "--host", "127.0.0.1",
               "--port", str(self.port), "--log-level", "warning", "--timeout-graceful-shutdown", "5"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("uvicorn did not come up within 90 s")

    def __exit__(self, *_: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@dataclass
class ApiEnv:
    settings: Settings
    data_dir: Path
    keys: dict[str, str]  # "acme:agent", "acme:admin", "globex:agent", "globex:admin"
    needle: tuple[str, str]

    def env(self, **extra: str) -> dict[str, str]:
        return {"LONGHAUL_DATA_DIR": str(self.data_dir), "LONGHAUL_THREADS": "1", **extra}

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}


def redis_server(tmp: str) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is required under CI=true")
        pytest.skip("redis-server not installed")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", tmp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc.port = port  # type: ignore[attr-defined]
    for _ in range(50):
        if AnswerCache(f"redis://127.0.0.1:{port}/0").ping():
            return proc
        time.sleep(0.1)
    proc.kill()
    pytest.fail("redis-server did not start")


def service_skip(what: str, exc: object) -> None:
    """A missing server fails under CI=true and skips otherwise."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required under CI=true: {exc}")
    pytest.skip(f"{what} not available: {exc}")
