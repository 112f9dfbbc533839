"""A huge single-line document chunks in linear time (issue 20, finding 2: a 2 MB line took 1,430 s because every
cut re-tokenized the rest of the line), whatever it holds: words, no whitespace, binary-looking text."""

from __future__ import annotations

import random
import string
import time
from pathlib import Path

import pytest

from engine.tokenizer import load_tokenizer
from ingest.chunker import ChunkConfig, chunk_file
from ingest.loaders import load_file

RNG = random.Random(20)


def _words(n: int) -> str:
    out, total = [], 0
    while total < n:
        w = "".join(RNG.choice(string.ascii_lowercase) for _ in range(RNG.randint(2, 9)))
        out.append(w)
        total += len(w) + 1
    return " ".join(out)[:n]


TEXTS = {
    "words": lambda n: _words(n),
    "no_whitespace": lambda n: "".join(RNG.choice(string.ascii_letters + string.digits) for _ in range(n)),
    "binary_looking": lambda n: "".join(chr(RNG.randint(33, 0x2FF)) for _ in range(n)),
}


@pytest.fixture(scope="module")
def count():
    return load_tokenizer().count


@pytest.mark.parametrize("kind", sorted(TEXTS))
def test_tokenizer_work_is_linear_and_nothing_is_lost(tmp_path: Path, count, kind: str) -> None:
    text = TEXTS[kind](200_000)
    (tmp_path / "one.txt").write_text(text)
    counted = 0

    def counting(s: str) -> int:
        nonlocal counted
        counted += len(s)
        return count(s)

    chunks, issues = chunk_file(load_file(tmp_path / "one.txt", tmp_path), counting, ChunkConfig(256))
    assert counted < 4 * len(text), f"{counted / len(text):.1f} characters tokenized per character of input"
    assert all(c.n_tokens <= 256 and c.n_tokens == count(c.text) for c in chunks)
    assert "".join("".join(c.text for c in chunks).split()) == "".join(text.split())  # only whitespace at cuts
    assert issues and "exceeds max_tokens: split into" in issues[0].message


def test_a_2mb_single_line_chunks_well_under_10s(tmp_path: Path, count) -> None:
    (tmp_path / "big.txt").write_text(_words(2_000_000))
    loaded = load_file(tmp_path / "big.txt", tmp_path)
    t = time.perf_counter()
    chunks, _ = chunk_file(loaded, count, ChunkConfig(256))
    seconds = time.perf_counter() - t
    assert seconds < 10, f"{seconds:.1f} s"
    assert len(chunks) > 4000 and min(c.n_tokens for c in chunks[:-1]) > 100  # filled pieces, not slivers
