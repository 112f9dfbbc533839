"""`longhaul generate` through the real console entry point: size, errors, JSON contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

LONGHAUL = [sys.executable, "-m", "app.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LONGHAUL, *args], capture_output=True, text=True, timeout=300)


def test_full_size_history_hits_its_token_target(tmp_path: Path) -> None:
    r = run("generate", "--out", str(tmp_path / "c"), "--tokens", "1200000", "--seed", "5", "--json")
    assert r.returncode == 0, r.stderr
    stats = json.loads(r.stdout.strip().splitlines()[-1])
    assert stats["token_counter"] == "SmolLM2 tokenizer"
    assert abs(stats["tokens_measured"] - 1_200_000) <= 0.05 * 1_200_000, stats
    assert len(stats["questions_by_type"]) == 9
    assert (tmp_path / "c" / "questions.jsonl").exists()


def test_bad_input_gives_one_clear_line_and_no_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for args in (["--tokens", "-5"], ["--out", str(blocker / "sub")], ["--depth", "2"]):
        full = ["generate", "--out", str(tmp_path / "o"), *args] if "--out" not in args else ["generate", *args]
        r = run(*full)
        assert r.returncode != 0
        assert "Traceback" not in r.stderr
        assert "error:" in r.stderr, r.stderr
    r = run("generate", "--no-such-option")
    assert r.returncode != 0 and "Traceback" not in r.stderr


def test_help_lists_commands() -> None:
    r = run("--help")
    assert r.returncode == 0
    assert "generate" in r.stdout
