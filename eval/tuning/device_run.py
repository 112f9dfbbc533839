"""Entry point of the GPU job: load, tune, evaluate tuned then base, write the adapter and the results.

``python -m eval.tuning.device_run --help`` lists the knobs; `longhaul train llm` prints the full command.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from eval.tuning.device_train import TARGETS, evaluate, limit, read, table, train, yarn


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--gguf", required=True, help="the base model's .gguf file, or an HF checkpoint folder")
    p.add_argument("--tokenizer", required=True, help="folder with the converted tokenizer.json")
    p.add_argument("--train", nargs="+", required=True, help="training JSON lines (.jsonl or .jsonl.xz)")
    p.add_argument("--eval", nargs="+", required=True, help="held-out eval JSON lines")
    p.add_argument("--out", required=True, help="output folder (adapter/, results.json)")
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--lr", type=float, default=4e-4)
    p.add_argument("--batch-tokens", type=int, default=49152, help="padded tokens per optimizer step")
    p.add_argument("--train-seconds", type=float, default=240.0)
    p.add_argument("--max-steps", type=int, default=10**9)
    p.add_argument("--max-train", type=int, default=0, help="use only the first N training rows (0: all)")
    p.add_argument("--yarn-factor", type=float, default=4.0, help="YaRN factor over the original context; 1: off")
    p.add_argument("--yarn-original", type=int, default=8192)
    p.add_argument("--eval-per", type=int, default=12, help="tuned: items per (type, budget)")
    p.add_argument("--base-per", type=int, default=8, help="base: items per (type, budget)")
    p.add_argument("--eval-tokens", type=int, default=262144, help="prompt tokens per generate batch")
    p.add_argument("--eval-seconds", type=float, default=120.0, help="per model")
    p.add_argument("--max-new", type=int, default=96)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-only", action="store_true",
                   help="skip training: evaluate OUT/adapter, keeping OUT/results.json's training record")
    args = p.parse_args(argv)
    if args.rank < 1 or args.train_seconds <= 0:
        p.error("--rank and --train-seconds must be positive")
    return args


def save_adapter(model: Any, out: Path) -> int:
    """PEFT ``save_pretrained``, then the weights rewritten in bf16; returns the file's size in bytes."""
    from safetensors.torch import load_file, save_file

    model.save_pretrained(str(out))
    f = out / "adapter_model.safetensors"
    sd = {k: v.to(torch.bfloat16).contiguous() for k, v in load_file(str(f)).items()}
    save_file(sd, str(f), metadata={"format": "pt"})
    return f.stat().st_size


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    from peft import LoraConfig, get_peft_model
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM

    torch.manual_seed(args.seed)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer.from_file(str(Path(args.tokenizer) / "tokenizer.json"))
    eos = tok.token_to_id("<|im_end|>")
    if eos is None:
        raise ValueError(f"{args.tokenizer}/tokenizer.json has no <|im_end|> token: is it a ChatML model?")
    args.tok = tok
    args.pad_id = eos
    t0 = time.time()
    rows = [] if args.eval_only else read(args.train)[: args.max_train or None]
    ps = tok.encode_batch([r["prompt"] for r in rows], add_special_tokens=False)
    ts = tok.encode_batch([r["target"] + "<|im_end|>" for r in rows], add_special_tokens=False)
    for r, p, t in zip(rows, ps, ts, strict=True):
        r["ids"], r["n_prompt"] = p.ids + t.ids, len(p.ids)
        del r["prompt"]
    ev = read(args.eval)
    for r, p in zip(ev, tok.encode_batch([r["prompt"] for r in ev], add_special_tokens=False), strict=True):
        r["pids"] = p.ids
    g = Path(args.gguf)
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    model: Any
    if g.is_dir():  # an HF checkpoint folder (a bigger Llama-family model, or a saved copy of the GGUF's weights)
        model = AutoModelForCausalLM.from_pretrained(str(g), dtype=dtype)
    else:
        model = AutoModelForCausalLM.from_pretrained(str(g.parent), gguf_file=g.name, dtype=dtype)
    model = model.to(dev)
    base_rope, base_params = model.model.rotary_emb, dict(model.config.rope_parameters)
    rope = yarn(model, args.yarn_factor, args.yarn_original) if args.yarn_factor > 1 else base_params
    tuned_rope = model.model.rotary_emb
    print(json.dumps({"phase": "loaded", "s": round(time.time() - t0, 1), "train_rows": len(rows),
                      "eval_rows": len(ev), "rope": rope, "device": str(dev)}), flush=True)
    lora = LoraConfig(r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.0, target_modules=TARGETS,
                      task_type="CAUSAL_LM")
    pm: Any
    if args.eval_only:  # a job trained by an earlier call (one call is at most 10 minutes on the device tool)
        from peft import PeftModel

        if not (out / "adapter").is_dir() or not (out / "results.json").exists():
            raise FileNotFoundError(f"--eval-only needs {out}/adapter and {out}/results.json from a training run")
        pm = PeftModel.from_pretrained(model, str(out / "adapter")).to(dev)
        res: dict[str, Any] = json.loads((out / "results.json").read_text())
    else:
        pm = get_peft_model(model, lora)
        pm.train()
        info = train(pm, rows, args, dev)
        size = save_adapter(pm, out / "adapter")
        res = {"rope_tuned": rope, "rope_base": base_params, "lora": {"r": args.rank, "alpha": 2 * args.rank,
               "targets": TARGETS}, "lr": args.lr, "batch_tokens": args.batch_tokens,
               "train": {k: v for k, v in info.items() if k != "log"}, "train_rows": len(rows),
               "adapter_bytes": size, "gpu": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"}
        (out / "train_log.json").write_text(json.dumps(info["log"]))
        (out / "results.json").write_text(json.dumps(res, indent=1))
    pm.eval()
    tuned = evaluate(pm, limit(ev, args.eval_per), args, dev, args.max_new, args.eval_seconds, eos)
    res["tuned"] = table(tuned)
    (out / "results.json").write_text(json.dumps(res, indent=1))
    print(json.dumps({"phase": "tuned", "s": round(time.time() - t0, 1), "table": res["tuned"]}), flush=True)
    pm.get_base_model().model.rotary_emb = base_rope
    pm.get_base_model().config.rope_parameters = base_params
    with pm.disable_adapter():
        base = evaluate(pm, limit(ev, args.base_per), args, dev, args.max_new, args.eval_seconds, eos)
    pm.get_base_model().model.rotary_emb = tuned_rope
    res["base"] = table(base)
    res["seconds_total"] = round(time.time() - t0, 1)
    (out / "results.json").write_text(json.dumps(res, indent=1))
    with open(out / "answers.jsonl", "w", encoding="utf-8") as f:
        for s in [dict(x, model="tuned") for x in tuned] + [dict(x, model="base") for x in base]:
            f.write(json.dumps(s) + "\n")
    print(json.dumps({"phase": "done", "s": res["seconds_total"], "base": res["base"]}), flush=True)


if __name__ == "__main__":
    main()
