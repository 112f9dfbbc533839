"""Running the decode step of one request: replayed from a captured CUDA graph, or static-shape over a compressed
cache. `LLM` (engine/llm.py) picks the step for a request's cache; the batched serving core grows here later
(nano-vllm's ``model_runner.py``: batched forward, CUDA graphs per batch bucket)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from engine.kv.cache import KVCache
from engine.kv.compressed import CompressedKVCache
from engine.model import Transformer

log = logging.getLogger(__name__)
Step = Callable[[torch.Tensor, int], torch.Tensor]  # (token (1,), position) -> logits (1, vocab)


class GraphStep:
    """One decode step replayed from a captured CUDA graph: static token, position and cache addresses."""

    def __init__(self, model: Transformer, cache: KVCache) -> None:
        self.cache = cache
        self.tok = torch.zeros(1, 1, dtype=torch.long, device=cache.k.device)
        self.pos = torch.full((), cache.max_len - 1, dtype=torch.long, device=cache.k.device)  # warm-up slot
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.inference_mode():
            for _ in range(2):
                model(self.tok, self.pos, cache, last_only=True)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), torch.inference_mode():
            self.logits = model(self.tok, self.pos, cache, last_only=True)[:, -1]  # (1, vocab)

    def __call__(self, tok: torch.Tensor, pos: int) -> torch.Tensor:
        self.tok.copy_(tok.view(1, 1))
        self.pos.fill_(pos)
        self.graph.replay()
        return self.logits


class CompressedStatic:
    """Static-shape decode of a compressed cache whose policy never evicts during decode: `prepare` (after the
    prompt) carries out the compressions and puts each layer's length on the device, then captures a CUDA graph
    (``decode_mode="graph"``) or uses the plain static step; each call appends one token to every layer."""

    def __init__(self, model: Transformer, cache: CompressedKVCache, device: torch.device, *, graph: bool) -> None:
        self.model, self.cache, self.device, self.graph = model, cache, device, graph
        self.inner: Step | None = None

    def prepare(self) -> None:
        self.cache.begin_static()
        if self.graph:
            try:
                self.inner = GraphStep(self.model, self.cache)
                return
            except RuntimeError as exc:  # capture unsupported here: the static step, uncaptured
                log.warning("CUDA graph capture failed for a compressed cache (%s); decoding without a graph", exc)
        model, device = self.model, self.device
        self.inner = lambda tok, pos: model(tok.view(1, 1), torch.tensor(pos, device=device), self.cache,
                                            last_only=True)[:, -1]

    def __call__(self, tok: torch.Tensor, pos: int) -> torch.Tensor:
        if self.inner is None:
            self.prepare()
        assert self.inner is not None
        self.cache.check_room()
        logits = self.inner(tok, pos)
        self.cache.advance()
        return logits
