"""Peak KV memory with compression during chunked prefill vs after it, through `LLM.generate` (real path).

With ``when="end"`` the cache holds the whole prompt before compressing; with ``"chunks"``/``"always"`` it is
compressed before every later chunk, so it is allocated for budget + one chunk + the new tokens only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.kv import KVSpec, make_policy
from engine.llm import LLM
from eval.kv.tasks import passkey


def run(llm: LLM, n_tokens: int = 2048, chunk: int = 256, ratio: float = 4.0,
        configs: Sequence[tuple[str, str]] = (("snapkv", "end"), ("snapkv", "chunks"), ("streamingllm", "always")),
        depth: float = 0.5, key: int = 48291) -> dict[str, Any]:
    """KV bytes allocated, peak tokens held and the answer for each (policy, when), full cache first."""
    nd = passkey(llm.tokenizer, n_tokens, depth, key)
    old, llm.prefill_chunk = llm.prefill_chunk, chunk
    rows = []
    try:
        for name, when in (("full", "end"), *configs):
            spec = KVSpec(None if name == "full" else make_policy(name, ratio=ratio, when=when))
            g = llm.generate(nd.ids, max_new_tokens=7, kv_policy=spec)
            s = g.kv_stats
            rows.append({"policy": name, "when": when, "ratio": 1.0 if name == "full" else ratio,
                         "kv_alloc_bytes": s["kv_alloc_bytes"], "kv_peak_tokens_mean": s["kv_peak_tokens_mean"],
                         "kv_bytes_final": s["kv_bytes"], "correct": nd.answer in g.text, "text": g.text,
                         "prefill_ms": round(g.timings_ms["prefill"])})
    finally:
        llm.prefill_chunk = old
    return {"n_tokens": nd.n_tokens, "prefill_chunk": chunk, "depth": depth, "rows": rows}
