"""Engine vs transformers on the same weights and threads: parity, prefill and decode throughput per context.

CPU: the bundled SmolLM2 GGUF (transformers loads it through ``gguf_file=``). GPU: ``synthetic:llama3-8b`` in bf16
(transformers gets the very same tensors), plus model FLOP/s against the measured matmul rate and decode against
the HBM roofline. Every speed is the best of ``reps`` runs, ours and theirs alternating, so both see the same noise.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import logging
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import torch

from engine.llm import LLM
from engine.model import Transformer

log = logging.getLogger(__name__)
RESULTS = Path(__file__).parent / "results"
PROMPTS = ["The capital of France is", "def fibonacci(n):",
           "Order #4411 shipped on 2024-03-02 to Berlin; the customer asked for a refund because"]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _best(fn: Callable[[], float], reps: int) -> float:
    return min(fn() for _ in range(reps))


def hf_from_engine(model: Transformer) -> torch.nn.Module:
    """A transformers ``LlamaForCausalLM`` sharing the engine model's tensors (split views of the fused ones)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    c = model.config
    cfg = LlamaConfig(vocab_size=c.vocab_size, hidden_size=c.dim, intermediate_size=c.ffn_dim,
                      num_hidden_layers=c.n_layers, num_attention_heads=c.n_heads, num_key_value_heads=c.n_kv_heads,
                      head_dim=c.head_dim, rms_norm_eps=c.norm_eps, max_position_embeddings=c.max_seq_len,
                      tie_word_embeddings=c.tie_embeddings,
                      rope_parameters={"rope_type": "default", "rope_theta": c.rope_theta, **(c.rope_scaling or {})})
    sd: dict[str, torch.Tensor] = {"model.embed_tokens.weight": model.embed.weight,
                                   "model.norm.weight": model.norm.weight, "lm_head.weight": model.lm_head.weight}
    q, kv = c.n_heads * c.head_dim, c.n_kv_heads * c.head_dim
    for i, block in enumerate(cast(list[Any], list(model.layers))):
        p = f"model.layers.{i}."
        wq, wk, wv = block.attn.wqkv.weight.split([q, kv, kv])  # type: ignore[union-attr]
        gate, up = block.mlp.w13.weight.split(c.ffn_dim)  # type: ignore[union-attr]
        sd |= {p + "self_attn.q_proj.weight": wq, p + "self_attn.k_proj.weight": wk, p + "self_attn.v_proj.weight": wv,
               p + "self_attn.o_proj.weight": block.attn.wo.weight, p + "mlp.gate_proj.weight": gate,  # type: ignore
               p + "mlp.up_proj.weight": up, p + "mlp.down_proj.weight": block.mlp.w2.weight,  # type: ignore
               p + "input_layernorm.weight": block.attn_norm.weight,  # type: ignore[union-attr]
               p + "post_attention_layernorm.weight": block.mlp_norm.weight}  # type: ignore[union-attr]
    prev = torch.get_default_dtype()
    torch.set_default_dtype(model.norm.weight.dtype)
    try:
        with torch.device(model.norm.weight.device):
            hf = LlamaForCausalLM(cfg)
    finally:
        torch.set_default_dtype(prev)
    hf.load_state_dict(sd, assign=True, strict=False)
    return hf.eval()


def _hf_gguf(path: Path) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32).eval()


def parity(llm: LLM, hf: torch.nn.Module, new_tokens: int = 32) -> tuple[float, bool]:
    """Max abs logit difference over the prompts (plus 512 random tokens) and greedy token identity."""
    worst, same = 0.0, True
    gen = torch.Generator().manual_seed(0)
    vocab = min(llm.config.vocab_size, 30000)
    prompts = [llm.tokenizer.encode(p) for p in PROMPTS] + [torch.randint(0, vocab, (512,), generator=gen).tolist()]
    prompts = [[t % vocab for t in ids] for ids in prompts]
    for ids in prompts:
        x = torch.tensor([ids], device=llm.device)
        with torch.inference_mode():
            worst = max(worst, (llm.model(x).float() - hf(x).logits.float()).abs().max().item())
    eos = llm.tokenizer.eos_id
    for ids in prompts[:3]:
        ours = llm.generate(ids, max_new_tokens=new_tokens).token_ids
        with torch.inference_mode():
            out = cast(Any, hf).generate(torch.tensor([ids], device=llm.device), max_new_tokens=new_tokens,
                                         do_sample=False, eos_token_id=eos, pad_token_id=eos)[0, len(ids):].tolist()
        same &= ours == (out[: out.index(eos)] if eos in out else out)
    return worst, same


def speed(llm: LLM, hf: torch.nn.Module, context: int, decode_tokens: int, reps: int) -> dict[str, float]:
    """Prefill tok/s over ``context`` prompt tokens and decode tok/s after it, ours and transformers'."""
    dev = str(llm.device)
    gen = torch.Generator().manual_seed(context)

    def prompt() -> list[int]:
        return torch.randint(0, min(llm.config.vocab_size, 30000), (context,), generator=gen).tolist()

    def ours_run() -> tuple[float, float]:
        llm._cached_ids = []  # no prefix reuse between repetitions
        g = llm.generate(prompt(), max_new_tokens=decode_tokens, ignore_eos=True)
        return context / (g.timings_ms["prefill"] / 1e3), g.decode_tok_s

    def hf_run() -> tuple[float, float]:
        """Prefill with ``logits_to_keep=1``, then a bare greedy loop on its cache (leaner than ``generate``)."""
        ids = torch.tensor([prompt()], device=dev)
        with torch.inference_mode():
            _sync(dev)
            t = time.perf_counter()
            out = hf(ids, use_cache=True, logits_to_keep=1)
            _sync(dev)
            pre = time.perf_counter() - t
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            past = out.past_key_values
            t = time.perf_counter()
            for _ in range(decode_tokens - 1):
                out = hf(nxt, **{cache_kw: past}, use_cache=True, logits_to_keep=1)
                past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
                int(nxt[0, 0])  # the host needs each token (stop checks, streaming), as ours does
            decode_s = time.perf_counter() - t
        return context / pre, (decode_tokens - 1) / decode_s

    cache_kw = "cache" if "cache" in inspect.signature(hf.forward).parameters else "past_key_values"
    ours, theirs = [], []
    for _ in range(reps):
        ours.append(ours_run())
        theirs.append(hf_run())
    op, od = max(o[0] for o in ours), max(o[1] for o in ours)
    tp, td = max(t[0] for t in theirs), max(t[1] for t in theirs)
    return {"context": context, "prefill_tok_s": op, "decode_tok_s": od, "hf_prefill_tok_s": tp,
            "hf_decode_tok_s": td, "prefill_ratio": op / tp, "decode_ratio": od / td}


def _key(context: int) -> str:
    return f"{context // 1024}k" if context % 1024 == 0 else str(context)


def run(device: str = "cpu", contexts: tuple[int, ...] = (1024, 4096, 8192), model: str | None = None,
        threads: int = 2, decode_tokens: int = 32, reps: int = 2, out: Path | None = None,
        command: str = "") -> dict[str, Any]:
    """Run the benchmark and write ``eval/results/engine_{cpu,gpu}.json``; returns the summary."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    torch.set_num_threads(threads)
    gpu = device.startswith("cuda")
    dtype = torch.bfloat16 if gpu else torch.float32
    name = model or ("synthetic:llama3-8b" if gpu else None)
    llm = LLM.load(name, device=device, dtype=dtype, max_seq_len=max(max(contexts) + decode_tokens + 8, 640),
                   adapter=None)
    if name is None:
        from engine.assets import smollm2_gguf

        hf = _hf_gguf(smollm2_gguf())
    else:
        hf = hf_from_engine(llm.model)
    worst, same = parity(llm, hf, new_tokens=decode_tokens)
    log.info("parity max abs diff %.3g, greedy identical %s", worst, same)
    rows = []
    for c in contexts:
        rows.append(speed(llm, hf, c, decode_tokens, reps))
        log.info("%s", json.dumps(rows[-1]))
    prefix = "gpu" if gpu else "cpu"
    summary: dict[str, Any] = {"parity_max_abs_diff": worst, "greedy_identical": same}
    for r in rows:
        summary[f"{prefix}_prefill_ratio_{_key(int(r['context']))}"] = r["prefill_ratio"]
        summary[f"{prefix}_decode_ratio_{_key(int(r['context']))}"] = r["decode_ratio"]
    if gpu:
        from eval.bench.engine_gpu import gpu_metrics

        summary |= gpu_metrics(llm, rows)
    report = {**summary, "rows": rows, "model": name or "bundled SmolLM2-135M-Instruct Q4_1 GGUF (fp32)",
              "device": device, "dtype": str(dtype), "threads": threads, "decode_tokens": decode_tokens, "reps": reps,
              "prefill_chunk": llm.prefill_chunk, "decode_mode": llm.decode_mode,
              "command": command, "machine": f"{platform.node()} {platform.machine()} {platform.processor()} "
              f"{os.cpu_count()} cpus" + (f" {torch.cuda.get_device_name()}" if gpu else ""),
              "load_avg_1m": os.getloadavg()[0], "torch": torch.__version__,
              "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    path = out or RESULTS / f"engine_{prefix}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":  # e.g. on a GPU machine without the CLI: python -m eval.bench.engine --device cuda
    import argparse
    import sys

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--contexts", default="")
    ap.add_argument("--model", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--decode-tokens", type=int, default=32)
    ap.add_argument("--reps", type=int, default=2)
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO)
    default = (8192, 32768, 131072) if a.device.startswith("cuda") else (1024, 4096, 8192)
    ctx = tuple(int(c) for c in a.contexts.split(",") if c) or default
    rep = run(a.device, ctx, a.model, a.threads, a.decode_tokens, a.reps, command="python -m eval.bench.engine "
              + " ".join(sys.argv[1:]))
    sys.stdout.write(json.dumps({k: v for k, v in rep.items() if k not in ("rows", "attention")}) + "\n")
