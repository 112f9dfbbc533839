"""The serving loop (nano-vllm's ``llm_engine.py``): requests in, one step at a time, finished requests out.

A step is three lines: the scheduler picks what runs, the runner computes it, `_postprocess` samples, stops and
frees. The KV pool is allocated once, at construction, from ``kv_blocks`` (or the bytes in ``kv_budget_bytes``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.block_manager import BlockManager
from engine.kv.paged import PagedKV
from engine.model import Transformer
from engine.model_runner import BatchRunner
from engine.sampling import sample
from engine.scheduler import Scheduler, SchedulerConfig
from engine.sequence import SamplingParams, Sequence, Status
from engine.stops import StopText
from engine.tokenizer import Tokenizer


@dataclass(frozen=True)
class EngineConfig:
    """The pool (``kv_blocks`` blocks of ``block_size`` tokens; the decode kernel reads 64 keys a step, so a
    multiple of 64 wastes nothing on GPU), the scheduler's caps, and CUDA graphs for decode (``graph``)."""

    kv_blocks: int = 512
    block_size: int = 64
    max_num_seqs: int = 64
    max_num_batched_tokens: int = 2048
    graph: bool = False

    def __post_init__(self) -> None:
        if self.kv_blocks < 2 or self.block_size < 1:
            raise ValueError(f"need kv_blocks >= 2 (one is scratch) and block_size >= 1, got {self.kv_blocks} and "
                             f"{self.block_size}")
        SchedulerConfig(self.max_num_seqs, self.max_num_batched_tokens)  # validates the caps


class LLMEngine:
    """Continuous batching over a paged KV pool for one single-device model."""

    def __init__(self, model: Transformer, tokenizer: Tokenizer, config: EngineConfig, max_seq_len: int) -> None:
        cfg = model.config
        self.model, self.tokenizer, self.config, self.max_seq_len = model, tokenizer, config, max_seq_len
        self.device = model.norm.weight.device
        dtype = model.norm.weight.dtype
        self.pool = PagedKV(cfg.n_layers, cfg.n_kv_heads, cfg.head_dim, config.kv_blocks, config.block_size,
                            dtype=dtype, device=self.device)
        self.blocks = BlockManager(config.kv_blocks - 1, config.block_size)  # the last block is the runner's scratch
        self.scheduler = Scheduler(SchedulerConfig(config.max_num_seqs, config.max_num_batched_tokens), self.blocks)
        max_blocks = min(-(-max_seq_len // config.block_size), config.kv_blocks - 1)
        self.runner = BatchRunner(model, self.pool, max_blocks, graph=config.graph, max_num_seqs=config.max_num_seqs)
        self.tokens_computed = 0  # tokens run through the model (prefill chunks and decodes), for tests and benches
        self.steps = 0

    def add(self, ids: list[int], params: SamplingParams) -> Sequence:
        """Queue a request of prompt token ``ids``; validated here, refused if it could never fit the pool."""
        seq = Sequence.new(ids, params, vocab_size=self.model.config.vocab_size, max_len=self.max_seq_len,
                           device=self.device)
        if params.stop:
            seq.texts = StopText(self.tokenizer, params.stop)
        self.scheduler.add(seq)
        return seq

    def has_work(self) -> bool:
        return self.scheduler.has_work()

    def step(self) -> list[Sequence]:
        """Run one step; returns the sequences that finished in it."""
        batch = self.scheduler.schedule()
        logits = self.runner.run(batch)  # (B, vocab)
        return self._postprocess(batch, logits)

    def _postprocess(self, batch: list[tuple[Sequence, int]], logits: torch.Tensor) -> list[Sequence]:
        self.steps += 1
        ready = []
        for i, (seq, n) in enumerate(batch):
            before = seq.num_computed
            seq.num_computed += n
            self.tokens_computed += n
            self.blocks.commit(seq, before)
            if seq.num_computed == len(seq):  # a prefill finished or a decode ran: sample its next token
                ready.append(i)
        if not ready:
            return []
        rows = logits[ready]
        if all(batch[i][0].params.temperature == 0 for i in ready):
            toks = rows.argmax(dim=-1).tolist()  # one host sync for the whole greedy batch
        else:
            toks = [int(sample(rows[j:j + 1], batch[i][0].params.temperature, batch[i][0].params.top_p,
                               batch[i][0].generator)[0]) for j, i in enumerate(ready)]
        finished = []
        for i, tok in zip(ready, toks, strict=True):
            seq = batch[i][0]
            p = seq.params
            stops = set(p.stop_token_ids) | (set() if p.ignore_eos else {self.tokenizer.eos_id})
            seq.append(tok, stops)
            if seq.status is Status.FINISHED:
                self.scheduler.finish(seq)
                finished.append(seq)
        return finished

    def run(self) -> None:
        """Step until every queued request has finished."""
        while self.has_work():
            self.step()
