"""Running the decode step of one request: replayed from a captured CUDA graph, or static-shape over a compressed
cache. `LLM` (engine/llm.py) picks the step for a request's cache. `BatchRunner` is the serving core's runner
(nano-vllm's ``model_runner.py``): a batched forward over the paged pool, CUDA graphs per decode batch bucket."""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from engine.kv.cache import KVCache
from engine.kv.compressed import CompressedKVCache
from engine.kv.paged import PagedBatch, PagedKV
from engine.model import Transformer
from engine.sequence import Sequence

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


class BatchRunner:
    """One forward pass of a scheduled step over the paged pool (engine/kv/paged.py): many sequences' new tokens
    in one flat row; returns each sequence's next-token logits, (B, vocab).

    On CUDA (``graph=True``) decode-only steps replay a graph captured per batch-size bucket; rows past the real
    batch write into a scratch block (the pool's last, which the block manager never hands out) and are dropped.
    """

    BUCKETS = (1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256)

    def __init__(self, model: Transformer, pool: PagedKV, max_blocks: int, *, graph: bool = False,
                 max_num_seqs: int = 64) -> None:
        self.model, self.pool, self.max_blocks = model, pool, max_blocks
        self.device = pool.k.device
        self.scratch = pool.n_blocks - 1
        self.buckets = [b for b in self.BUCKETS if b < max_num_seqs] + [max_num_seqs]
        self.graphs: dict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor]] = {}
        self.static: PagedBatch | None = None
        self.static_tokens: torch.Tensor | None = None
        if graph:
            self._capture()

    def _tensor(self, xs: list[int] | list[list[int]], dtype: torch.dtype = torch.long) -> torch.Tensor:
        return torch.tensor(xs, dtype=dtype).to(self.device, non_blocking=True)

    def prepare(self, batch: list[tuple[Sequence, int]]) -> tuple[torch.Tensor, PagedBatch]:
        """Tokens (1, N) and the `PagedBatch` of a step: ``(sequence, n)`` computes its next ``n`` tokens."""
        bs = self.pool.block_size
        tokens: list[int] = []
        positions: list[int] = []
        slots: list[int] = []
        qlens, clens, last = [], [], []
        for seq, n in batch:
            a = seq.num_computed
            tokens += seq.token_ids[a:a + n]
            positions += range(a, a + n)
            slots += [seq.block_table[p // bs] * bs + p % bs for p in range(a, a + n)]
            qlens.append(n)
            clens.append(a + n)
            last.append(len(tokens) - 1)
        width = max(len(seq.block_table) for seq, _ in batch)
        tables = [seq.block_table + [self.scratch] * (width - len(seq.block_table)) for seq, _ in batch]
        pb = PagedBatch(self.pool, self._tensor(positions), self._tensor(slots), self._tensor(tables, torch.int32),
                        self._tensor(clens, torch.int32), self._tensor(last), qlens, clens, max(clens))
        return self._tensor([tokens]), pb

    @torch.inference_mode()
    def run(self, batch: list[tuple[Sequence, int]]) -> torch.Tensor:
        if self.graphs and all(n == 1 for _, n in batch) and len(batch) <= self.buckets[-1]:
            return self._replay(batch)
        tokens, pb = self.prepare(batch)
        return self.model(tokens, 0, pb, last_only=True)[0]  # (B, vocab)

    def _capture(self) -> None:
        """Capture one decode graph per bucket (largest first, sharing one memory pool)."""
        n, bs = self.buckets[-1], self.pool.block_size
        full = self.max_blocks * bs
        self.static_tokens = torch.zeros(1, n, dtype=torch.long, device=self.device)
        self.static = PagedBatch(
            self.pool, torch.zeros(n, dtype=torch.long, device=self.device),
            torch.full((n,), self.scratch * bs, dtype=torch.long, device=self.device),
            torch.full((n, self.max_blocks), self.scratch, dtype=torch.int32, device=self.device),
            torch.ones(n, dtype=torch.int32, device=self.device), torch.arange(n, device=self.device), None, None,
            full)
        mempool = None
        for b in reversed(self.buckets):
            st = self.static
            view = PagedBatch(self.pool, st.positions[:b], st.slots[:b], st.tables[:b], st.lens[:b], st.last[:b],
                              None, None, full)
            tok = self.static_tokens[:, :b]
            with torch.inference_mode():
                self.model(tok, 0, view, last_only=True)  # warm-up (Triton compiles here, not under capture)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=mempool), torch.inference_mode():
                logits = self.model(tok, 0, view, last_only=True)[0]
            mempool = graph.pool()
            self.graphs[b] = (graph, logits)

    def _replay(self, batch: list[tuple[Sequence, int]]) -> torch.Tensor:
        assert self.static is not None and self.static_tokens is not None
        b = next(x for x in self.buckets if x >= len(batch))
        tokens, pb = self.prepare(batch)
        st, n, w = self.static, len(batch), pb.tables.shape[1]
        if w > self.max_blocks:
            raise ValueError(f"a sequence holds {w} blocks, more than the graph's table width {self.max_blocks}")
        self.static_tokens[:, :n].copy_(tokens)
        st.positions[:n].copy_(pb.positions)
        st.slots[:n].copy_(pb.slots)
        st.slots[n:b].fill_(self.scratch * self.pool.block_size)
        st.tables[:b].fill_(self.scratch)
        st.tables[:n, :w].copy_(pb.tables)
        st.lens[:n].copy_(pb.lens)
        st.lens[n:b].fill_(1)
        graph, logits = self.graphs[b]
        graph.replay()
        return logits[:n]
