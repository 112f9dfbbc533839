"""Continuous batching (nano-vllm's ``scheduler.py``, with vLLM's chunked prefill): what runs in the next step.

Requests join and leave at step boundaries. Each step has a token budget: running decodes first (one token each),
then prefill chunks fill what is left, first for sequences already mid-prefill, then for newly admitted ones (while
the running cap and the free blocks allow). When a decode needs a block and none is free, the most recently admitted
running sequence is preempted: its blocks are freed and it goes back to the head of the queue, to be recomputed
(prompt and generated tokens) on re-admission. Nothing is ever allocated beyond the pool, so the pool cannot run out.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from engine.block_manager import BlockManager
from engine.sequence import Sequence, Status


@dataclass(frozen=True)
class SchedulerConfig:
    """``max_num_seqs``: running sequences at most; ``max_num_batched_tokens``: tokens per step (decodes + chunks)."""

    max_num_seqs: int = 64
    max_num_batched_tokens: int = 2048

    def __post_init__(self) -> None:
        if self.max_num_seqs < 1:
            raise ValueError(f"max_num_seqs must be >= 1, got {self.max_num_seqs}")
        if self.max_num_batched_tokens < self.max_num_seqs:
            raise ValueError(f"max_num_batched_tokens ({self.max_num_batched_tokens}) must be >= max_num_seqs "
                             f"({self.max_num_seqs}) so that every running decode fits in a step")


class Scheduler:
    """Queues of waiting and running sequences over one `BlockManager`."""

    def __init__(self, config: SchedulerConfig, blocks: BlockManager) -> None:
        self.config, self.blocks = config, blocks
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []  # in admission order: the last is preempted first
        self.preemptions = 0

    def add(self, seq: Sequence) -> None:
        """Queue ``seq``; refuse up front one that could never fit the pool even alone."""
        bs, total = self.blocks.block_size, len(self.blocks.blocks)
        need = seq.num_blocks(bs, min(len(seq) + seq.params.max_tokens, seq.max_len))
        if need > total:
            raise ValueError(f"the request needs {need} KV blocks of {bs} tokens ({len(seq)} prompt + "
                             f"{seq.params.max_tokens} new tokens) but the whole pool has {total}: shorten it, or "
                             "give the engine a larger KV pool")
        self.waiting.append(seq)

    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    def _preempt(self, seq: Sequence) -> None:
        self.running.remove(seq)
        self.blocks.deallocate(seq)
        seq.status = Status.WAITING
        self.waiting.appendleft(seq)
        self.preemptions += 1

    def schedule(self) -> list[tuple[Sequence, int]]:
        """The next step: (sequence, tokens to compute) pairs, decodes first. Blocks are reserved for all of them."""
        budget = self.config.max_num_batched_tokens
        out: list[tuple[Sequence, int]] = []
        scheduled: set[int] = set()
        for seq in list(self.running):  # 1. decodes, one token each
            if seq.status is not Status.RUNNING or not seq.is_decoding or budget == 0:
                continue
            while not self.blocks.can_append(seq):
                victim = next((s for s in reversed(self.running) if s.seq_id not in scheduled and s is not seq),
                              None)
                self._preempt(victim or seq)
                if victim is None:
                    break
            if seq.status is not Status.RUNNING:
                continue
            self.blocks.may_append(seq)
            out.append((seq, 1))
            scheduled.add(seq.seq_id)
            budget -= 1
        for seq in self.running:  # 2. chunks of prefills under way
            if budget == 0:
                break
            if seq.seq_id not in scheduled and not seq.is_decoding:
                n = min(seq.to_compute, budget)
                out.append((seq, n))
                scheduled.add(seq.seq_id)
                budget -= n
        while self.waiting and budget > 0 and len(self.running) < self.config.max_num_seqs:  # 3. admissions
            seq = self.waiting[0]
            if not self.blocks.can_allocate(seq):
                break
            self.waiting.popleft()
            self.blocks.allocate(seq)
            seq.status = Status.RUNNING
            self.running.append(seq)
            n = min(seq.to_compute, budget)
            out.append((seq, n))
            scheduled.add(seq.seq_id)
            budget -= n
        return out

    def finish(self, seq: Sequence) -> None:
        """Take a finished ``seq`` out of the running set and free its blocks."""
        self.running.remove(seq)
        self.blocks.deallocate(seq)
