"""Index versions on disk: each build is a new directory; the live one is named by a file swapped atomically.

Layout under a tenant's index root::

    <root>/v000003/chunks.jsonl   one Chunk per line (row order = FAISS ids = tantivy ``row``)
    <root>/v000003/vectors.npy    float32 (n, 384), kept so the next build re-embeds only new chunks
    <root>/v000003/dense.faiss
    <root>/v000003/keyword/       tantivy
    <root>/v000003/vocabulary.json the tenant vocabulary this version was built with (`ingest.vocab_model`)
    <root>/v000003/documents.json  the documents this version holds, by id (their source, hash, type, counts)
    <root>/v000003/manifest.json
    <root>/LIVE                   the live version's name
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ingest.records import Chunk
from ingest.vocab_model import Vocabulary
from retrieval.dense import DenseIndex
from retrieval.keyword import KeywordIndex

LIVE = "LIVE"
VOCABULARY = "vocabulary.json"
DOCUMENTS = "documents.json"


def version_name(number: int) -> str:
    return f"v{number:06d}"


def next_version(root: Path) -> str:
    nums = [int(p.name[1:]) for p in root.glob("v[0-9]*") if p.name[1:].isdigit()] if root.exists() else []
    return version_name(max(nums, default=0) + 1)


def build_version(
    root: Path,
    version: str,
    chunks: Sequence[Chunk],
    vectors: np.ndarray,
    vocabulary: Vocabulary | None = None,
    documents: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Write every file of a version into a temp dir, then rename it into place; returns the version dir.

    ``documents``: what the caller records about each document (kept so an earlier version can be made live again
    with its own document records)."""
    if len(chunks) != len(vectors):
        raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors: embed every chunk before building")
    final = root / version
    tmp = root / f".tmp-{version}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with (tmp / "chunks.jsonl").open("w", encoding="utf-8") as f:
        for c in chunks:
            f.write(json.dumps(asdict(c), ensure_ascii=False) + "\n")
    np.save(tmp / "vectors.npy", vectors.astype(np.float32))
    DenseIndex.build(vectors).save(tmp / "dense.faiss")
    KeywordIndex.build(tmp / "keyword", chunks)
    (tmp / VOCABULARY).write_text(json.dumps((vocabulary or Vocabulary()).to_json(), ensure_ascii=False))
    if documents is not None:
        (tmp / DOCUMENTS).write_text(json.dumps(documents, ensure_ascii=False))
    manifest = {
        "version": version,
        "n_chunks": len(chunks),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest))
    os.replace(tmp, final)
    return final


def load_chunks(version_dir: Path) -> list[Chunk]:
    with (version_dir / "chunks.jsonl").open(encoding="utf-8") as f:
        return [Chunk(**json.loads(line)) for line in f]


def load_vocabulary(version_dir: Path) -> Vocabulary:
    """The vocabulary a version was built with; an empty one for versions built before vocabularies existed."""
    path = version_dir / VOCABULARY
    if not path.exists():
        return Vocabulary()
    return Vocabulary.from_json(json.loads(path.read_text(encoding="utf-8")))


def load_documents(version_dir: Path) -> dict[str, dict[str, Any]] | None:
    """The document records a version was built with; None for versions built before they were kept."""
    path = version_dir / DOCUMENTS
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def versions(root: Path) -> list[str]:
    """The complete versions on disk, oldest first."""
    return sorted(p.name for p in root.glob("v[0-9]*") if (p / "manifest.json").exists()) if root.exists() else []


def load_vectors(version_dir: Path) -> np.ndarray:
    return np.load(version_dir / "vectors.npy")


def set_live(root: Path, version: str) -> None:
    """Atomically point the tenant at ``version`` (readers see the old or the new name, never a torn file)."""
    if not (root / version / "manifest.json").exists():
        raise FileNotFoundError(f"index version {version} is not complete under {root}")
    tmp = root / f".{LIVE}.tmp"
    tmp.write_text(version)
    os.replace(tmp, root / LIVE)


def live_version(root: Path) -> str | None:
    p = root / LIVE
    return p.read_text().strip() if p.exists() else None


def live_dir(root: Path) -> Path:
    version = live_version(root)
    if version is None:
        raise FileNotFoundError(f"no live index under {root}: run `longhaul ingest DIR --tenant T` first")
    return root / version


def prune(root: Path, keep: int = 2) -> list[str]:
    """Delete all but the newest ``keep`` versions (never the live one); returns the deleted names."""
    live = live_version(root)
    versions = sorted(p.name for p in root.glob("v[0-9]*") if p.is_dir())
    doomed = [v for v in versions[:-keep] if v != live] if keep > 0 else []
    for v in doomed:
        shutil.rmtree(root / v, ignore_errors=True)
    return doomed
