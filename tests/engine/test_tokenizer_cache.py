"""The converted-tokenizer cache survives concurrent first loads (the training-data workers race on it)."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from engine.tokenizer import load_tokenizer


def _encode(cache_dir: str) -> list[int]:
    return load_tokenizer(cache_dir=cache_dir).encode("Order #48291 was refunded late.")


def test_concurrent_first_loads_agree_and_leave_one_folder(tmp_path: Path) -> None:
    with ProcessPoolExecutor(3) as pool:
        results = list(pool.map(_encode, [str(tmp_path)] * 3))
    assert results[0] and results.count(results[0]) == 3
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert len(folders) == 1 and (tmp_path / folders[0] / "tokenizer.json").exists(), folders
    assert _encode(str(tmp_path)) == results[0]  # the cached folder loads the same tokenizer


def test_incomplete_folder_from_an_older_conversion_is_replaced(tmp_path: Path) -> None:
    first = _encode(str(tmp_path))
    (folder,) = tmp_path.iterdir()
    (folder / "tokenizer.json").unlink()  # as an interrupted, non-atomic conversion left it
    assert _encode(str(tmp_path)) == first
    assert (folder / "tokenizer.json").exists()
