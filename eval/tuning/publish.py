"""Install a tuning job's output: the adapter with its manifest into the repo, the numbers into eval/results/.

The manifest is what the engine and `longhaul eval domain` read: base model hash, data recipe, seeds, steps,
rope parameters (apply them whenever the adapter is merged: it was trained with them) and the eval scores.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eval.tuning.report import bars, summary

ADAPTER_DIR = Path("engine/adapters/smollm2-orders")
RESULTS_FILE = Path("eval/results/domain_gpu.json")
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def publish(job_dir: Path, base_model: Path, data_stats: Mapping[str, Any], run: Mapping[str, Any],
            adapter_dir: Path = ADAPTER_DIR, results_file: Path = RESULTS_FILE) -> dict[str, Any]:
    """Copy ``job_dir/adapter`` to ``adapter_dir`` with ``manifest.json``; write ``results_file``; return it.

    ``data_stats`` holds the data builder's statistics per split; ``run`` the command, machine and date.
    """
    src = job_dir / "adapter"
    missing = [f for f in ADAPTER_FILES if not (src / f).exists()]
    if missing or not (job_dir / "results.json").exists():
        raise FileNotFoundError(f"{job_dir} is not a finished tuning job: it needs results.json and "
                                f"adapter/{{{', '.join(ADAPTER_FILES)}}} (missing: {missing})")
    res = json.loads((job_dir / "results.json").read_text())
    adapter_dir.mkdir(parents=True, exist_ok=True)
    for f in ADAPTER_FILES:
        shutil.copyfile(src / f, adapter_dir / f)
    conf = json.loads((adapter_dir / "adapter_config.json").read_text())
    conf["base_model_name_or_path"] = base_model.name
    (adapter_dir / "adapter_config.json").write_text(json.dumps(conf, indent=2) + "\n")
    s = summary(res)
    rope = {k: v for k, v in res["rope_tuned"].items() if k != "attention_scaling"}
    manifest = {
        "name": "smollm2-orders",
        "base_model": {"file": base_model.name, "sha256": sha256_file(base_model)},
        "format": "PEFT LoRA, bf16", "lora": res["lora"],
        "rope_parameters": rope, "max_seq_len": int(rope.get("original_max_position_embeddings", 8192)
                                                     * rope.get("factor", 1.0)),
        "data": {"recipe": "eval.tuning.data (generated corpora -> chunks -> BM25 -> packing.pack order 'ours' "
                           "-> answers citing [E#]); paraphrase type and reworded templates eval-only",
                 **{k: v for k, v in data_stats.items()}},
        "training": {"lr": res["lr"], "batch_tokens": res["batch_tokens"], "rows": res["train_rows"],
                     **res["train"]},
        "eval": {"accuracy_by_type_4k": s["accuracy_by_type_4k"], "usable_context_tokens": s["usable_context_tokens"],
                 "lookup_accuracy": s["lookup_accuracy"], "results_file": str(results_file)},
        "created": run.get("date", datetime.now(UTC).isoformat(timespec="seconds")),
    }
    (adapter_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    out = {"run": dict(run), **s, "bars": bars(s), "tables": {"tuned": res["tuned"], "base": res.get("base", {})},
           "rope": {"tuned": rope, "base": res["rope_base"]}, "train": res["train"], "data": dict(data_stats),
           "adapter": {"dir": str(adapter_dir), "bytes": (adapter_dir / ADAPTER_FILES[1]).stat().st_size}}
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps(out, indent=1) + "\n")
    return out
