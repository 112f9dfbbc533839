"""GPU side of `longhaul train llm`: LoRA-tune the GGUF model on packed prompts, then score tuned vs base.

Runs anywhere torch + transformers + peft + gguf + tokenizers are installed (the H200 image, or a user's GPUs):

    python -m eval.tuning.device_train --gguf model.gguf --tokenizer tokdir --train train*.jsonl.xz \\
        --eval eval.jsonl.xz --out out/ --train-seconds 240

Loss only on the answer tokens; right padding with no attention mask (causal attention never looks at the pads
after a row's end, so SDPA keeps its flash path). The LR schedule is by wall time (warmup, hold, linear decay over
the last quarter) so a fixed device-time budget always ends with a decayed model. Writes ``out/adapter/`` (PEFT,
bf16), ``out/results.json`` (accuracy per type and budget, base and tuned) and ``out/train_log.json``.
"""

from __future__ import annotations

import argparse
import json
import lzma
import random
import time
from typing import Any

import torch

from eval.tuning.targets import is_correct

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def read(paths: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for p in paths:
        opener = lzma.open if p.endswith(".xz") else open
        with opener(p, "rt", encoding="utf-8") as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


def yarn(model: Any, factor: float, original: int) -> dict[str, Any]:
    """Switch the model's rotary embedding to YaRN (HF ``rope_parameters`` naming); return the parameters."""
    cfg = model.config
    old = getattr(cfg, "rope_parameters", None) or {"rope_theta": getattr(cfg, "rope_theta", 100000.0)}
    params = {"rope_type": "yarn", "factor": factor, "original_max_position_embeddings": original,
              "rope_theta": float(old.get("rope_theta", 100000.0))}
    cfg.rope_parameters = dict(params)
    cfg.max_position_embeddings = int(original * factor)
    inner = model.model
    inner.rotary_emb = type(inner.rotary_emb)(config=cfg).to(next(model.parameters()).device)
    got = getattr(inner.rotary_emb, "rope_type", "?")
    if got != "yarn":
        raise RuntimeError(f"rotary embedding is {got!r} after setting YaRN: this transformers names rope differently")
    return dict(params, attention_scaling=float(getattr(inner.rotary_emb, "attention_scaling", 1.0)))


def batches(rows: list[dict[str, Any]], key: str, budget_tokens: int, rng: random.Random) -> list[list[int]]:
    """Index batches of similar length, at most ``budget_tokens`` padded tokens each, in random order."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][key]))
    out: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        longest = max([len(rows[j][key]) for j in cur] + [len(rows[i][key])])
        if cur and longest * (len(cur) + 1) > budget_tokens:
            out.append(cur)
            cur = []
        cur.append(i)
    if cur:
        out.append(cur)
    rng.shuffle(out)
    return out


def train(model: Any, rows: list[dict[str, Any]], args: argparse.Namespace, dev: torch.device) -> dict[str, Any]:
    rng = random.Random(args.seed)
    plan = batches(rows, "ids", args.batch_tokens, rng)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0, betas=(0.9, 0.99))
    inner, head = model.get_base_model().model, model.get_base_model().lm_head
    log: list[dict[str, float]] = []
    t0, step, seen_tokens = time.time(), 0, 0
    while time.time() - t0 < args.train_seconds and step < args.max_steps:
        for b in plan:
            frac_left = 1.0 - (time.time() - t0) / args.train_seconds
            if frac_left <= 0 or step >= args.max_steps:
                break
            lr = args.lr * min(1.0, (step + 1) / 20) * min(1.0, frac_left / 0.25)
            for g in opt.param_groups:
                g["lr"] = lr
            width = max(len(rows[i]["ids"]) for i in b)
            x = torch.full((len(b), width), args.pad_id, dtype=torch.long)
            pos_r, pos_c, tgt = [], [], []
            for r, i in enumerate(b):
                ids, n_p = rows[i]["ids"], rows[i]["n_prompt"]
                x[r, : len(ids)] = torch.tensor(ids)
                for c in range(n_p - 1, len(ids) - 1):  # hidden at c predicts token c + 1 (answer tokens only)
                    pos_r.append(r)
                    pos_c.append(c)
                    tgt.append(ids[c + 1])
            x = x.to(dev)
            h = inner(input_ids=x).last_hidden_state  # (B, T, d)
            hs = h[torch.tensor(pos_r, device=dev), torch.tensor(pos_c, device=dev)]  # (N, d)
            logits = head(hs).float()
            loss = torch.nn.functional.cross_entropy(logits, torch.tensor(tgt, device=dev))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            seen_tokens += int(x.numel())
            if step % 10 == 0 or step == 1:
                log.append({"step": step, "loss": round(float(loss), 4), "lr": lr, "s": round(time.time() - t0, 1)})
                print(json.dumps(log[-1]), flush=True)
    return {"steps": step, "seconds": round(time.time() - t0, 1), "padded_tokens": seen_tokens,
            "batches_per_epoch": len(plan), "epochs": round(step / max(1, len(plan)), 3), "log": log}


@torch.no_grad()
def evaluate(model: Any, rows: list[dict[str, Any]], args: argparse.Namespace, dev: torch.device,
             max_new: int, seconds: float, eos: int) -> list[dict[str, Any]]:
    """Greedy answers for ``rows`` (grouped by budget, left-padded); stops early after ``seconds``."""
    t0, out = time.time(), []
    budgets = sorted({r["budget"] for r in rows})
    for n_b, budget in enumerate(budgets):
        share_end = seconds * (n_b + 1) / len(budgets)  # each budget gets its share; unused time carries over
        group = _interleave([r for r in rows if r["budget"] == budget])
        bs = max(1, args.eval_tokens // budget)
        for k in range(0, len(group), bs):
            if time.time() - t0 > share_end:
                break
            part = group[k: k + bs]
            width = max(len(r["pids"]) for r in part)
            x = torch.full((len(part), width), args.pad_id, dtype=torch.long)
            mask = torch.zeros((len(part), width), dtype=torch.long)
            for j, r in enumerate(part):
                x[j, width - len(r["pids"]):] = torch.tensor(r["pids"])
                mask[j, width - len(r["pids"]):] = 1
            gen = model.generate(input_ids=x.to(dev), attention_mask=mask.to(dev), max_new_tokens=max_new,
                                 do_sample=False, eos_token_id=eos, pad_token_id=args.pad_id)
            for j, r in enumerate(part):
                text = args.tok.decode(gen[j, width:].tolist(), skip_special_tokens=True)
                out.append({"qid": r["qid"], "seed": r["seed"], "type": r["type"], "budget": budget,
                            "paraphrased": r["paraphrased"], "answer": text,
                            "correct": is_correct(text, r["accept"], r["match"], r["type"])})
    return out


def _interleave(group: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Round-robin over (type, paraphrased) so a run cut short still covers every type."""
    seen: dict[tuple[str, bool], int] = {}
    keyed = []
    for i, r in enumerate(group):
        k = (r["type"], r["paraphrased"])
        seen[k] = seen.get(k, 0) + 1
        keyed.append((seen[k], i))
    return [group[i] for _, i in sorted(keyed)]


def table(scored: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """{budget: {type: {"acc": x, "n": n}}}; paraphrased items under type ``<type>@para``."""
    acc: dict[str, dict[str, list[int]]] = {}
    for s in scored:
        t = s["type"] + ("@para" if s["paraphrased"] else "")
        acc.setdefault(str(s["budget"]), {}).setdefault(t, []).append(int(s["correct"]))
    return {b: {t: {"acc": round(sum(v) / len(v), 3), "n": len(v)} for t, v in sorted(d.items())}
            for b, d in sorted(acc.items(), key=lambda kv: int(kv[0]))}


def limit(rows: list[dict[str, Any]], per: int) -> list[dict[str, Any]]:
    seen: dict[tuple[Any, ...], int] = {}
    out = []
    for r in rows:
        key = (r["type"], r["budget"], r["paraphrased"])
        if seen.get(key, 0) < per:
            seen[key] = seen.get(key, 0) + 1
            out.append(r)
    return out
