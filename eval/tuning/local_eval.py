"""Score the engine (base, or with the domain adapter merged) on held-out tuning prompts, on this machine.

The adapter was trained under the rope parameters in its ``manifest.json`` (YaRN); `load_engine` applies them
after the merge, whatever the engine's own defaults.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from eval.tuning.device_train import limit, table
from eval.tuning.targets import is_correct


def read_manifest(adapter: Path) -> dict[str, Any]:
    path = adapter / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"{adapter} has no manifest.json: pass the folder `longhaul train llm` installed")
    return dict(json.loads(path.read_text()))


def apply_rope(llm: Any, rope: dict[str, Any], max_seq_len: int) -> None:
    """Rebuild ``llm``'s rotary tables with HF-named ``rope`` parameters for ``max_seq_len`` positions."""
    scaling = {k: v for k, v in rope.items() if k != "rope_theta"}
    cfg = dataclasses.replace(llm.model.config, rope_scaling=scaling,
                              rope_theta=float(rope.get("rope_theta", llm.model.config.rope_theta)))
    llm.model.config = llm.config = cfg
    llm.max_seq_len = max_seq_len
    llm.model.setup_rope(max_seq_len)


def load_engine(adapter: Path | None, threads: int | None = None, weights: str = "fp32") -> Any:
    """The bundled model on CPU, with ``adapter`` merged (before quantizing to ``weights``) and its rope parameters
    applied (None: the base)."""
    from engine.llm import LLM

    if adapter is None:
        return LLM.load(threads=threads, adapter=None, weights=weights)
    man = read_manifest(adapter)
    n = int(man.get("max_seq_len", 8192))
    llm = LLM.load(adapter=adapter, threads=threads, max_seq_len=n, weights=weights)
    if man.get("rope_parameters"):
        apply_rope(llm, man["rope_parameters"], n)
    return llm


def score(generate: Callable[[str], str], rows: Sequence[dict[str, Any]], per: int,
          progress: Callable[[int, int], None] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Greedy answers for up to ``per`` rows per (type, budget); returns the accuracy table and the answers."""
    picked = limit(list(rows), per)
    scored = []
    for i, r in enumerate(picked):
        text = generate(str(r["prompt"]))
        scored.append({"qid": r["qid"], "type": r["type"], "budget": r["budget"], "paraphrased": r["paraphrased"],
                       "answer": text, "correct": is_correct(text, r["accept"], r["match"], r["type"])})
        if progress:
            progress(i + 1, len(picked))
    return table(scored), scored
