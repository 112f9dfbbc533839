"""Invariants of the block manager (engine/block_manager.py) and the scheduler's admission and preemption."""

from __future__ import annotations

import pytest

from engine.block_manager import BlockManager
from engine.scheduler import Scheduler, SchedulerConfig
from engine.sequence import SamplingParams, Sequence, Status


def _seq(ids: list[int], max_tokens: int = 8) -> Sequence:
    return Sequence.new(ids, SamplingParams(max_tokens=max_tokens), vocab_size=1000, max_len=1000)


def _refcounts_consistent(bm: BlockManager, live: list[Sequence]) -> None:
    held: dict[int, int] = {}
    for s in live:
        for b in s.block_table:
            held[b] = held.get(b, 0) + 1
    for block in bm.blocks:
        assert block.ref_count == held.get(block.block_id, 0)
    assert set(bm.free) == {b.block_id for b in bm.blocks if b.ref_count == 0}
    assert len(bm.free) == len(set(bm.free))


def test_allocate_free_and_prefix_sharing() -> None:
    bm = BlockManager(16, 4)
    a = _seq(list(range(10)))  # 3 blocks: 2 full + 1 partial
    bm.allocate(a)
    assert len(a.block_table) == 3 and bm.n_free == 13 and a.num_computed == 0
    a.num_computed = 10
    bm.commit(a, 0)  # the two full blocks are registered
    b = _seq(list(range(8)) + [99, 98, 97])  # shares the first two blocks
    assert bm.can_allocate(b)
    bm.allocate(b)
    assert b.block_table[:2] == a.block_table[:2] and b.num_computed == 8 and b.num_cached == 8
    assert bm.blocks[a.block_table[0]].ref_count == 2
    _refcounts_consistent(bm, [a, b])
    c = _seq(list(range(8)))  # whole prompt cached: the last block is recomputed (its logits are needed)
    bm.allocate(c)
    assert c.num_computed == 4 and c.block_table[0] == a.block_table[0] and c.block_table[1] != a.block_table[1]
    _refcounts_consistent(bm, [a, b, c])
    for s in (a, b, c):
        bm.deallocate(s)
    assert bm.n_free == 16
    _refcounts_consistent(bm, [])
    d = _seq(list(range(8)) + [5])  # freed blocks keep their hash: revived from the free queue
    assert bm.can_allocate(d)
    bm.allocate(d)
    assert d.num_computed == 8
    _refcounts_consistent(bm, [d])


def test_append_needs_a_block_every_block_size_tokens() -> None:
    bm = BlockManager(2, 4)
    s = _seq([1, 2, 3, 4])
    bm.allocate(s)
    s.num_computed = 4
    s.token_ids.append(5)
    assert bm.can_append(s)
    bm.may_append(s)
    assert len(s.block_table) == 2 and bm.n_free == 0
    s.num_computed, s.token_ids = 5, s.token_ids + [6, 7, 8, 9]
    assert not bm.can_append(s)


def test_scheduler_budget_decodes_first_and_preemption() -> None:
    bm = BlockManager(6, 4)
    sch = Scheduler(SchedulerConfig(max_num_seqs=3, max_num_batched_tokens=6), bm)
    long, short = _seq(list(range(10))), _seq([7, 8])
    sch.add(long)
    sch.add(short)
    first = sch.schedule()
    assert [(s.seq_id, n) for s, n in first] == [(long.seq_id, 6)]  # chunked: budget 6
    long.num_computed = 6
    second = sch.schedule()
    assert [(s.seq_id, n) for s, n in second] == [(long.seq_id, 4), (short.seq_id, 2)]
    long.num_computed, short.num_computed = 10, 2
    long.token_ids.append(1)
    short.token_ids.append(1)
    third = sch.schedule()  # both decode; 3 + 1 blocks held
    assert {n for _, n in third} == {1}
    with pytest.raises(ValueError, match="whole pool"):
        sch.add(_seq(list(range(30))))


def test_preemption_frees_the_last_admitted() -> None:
    bm = BlockManager(3, 4)
    sch = Scheduler(SchedulerConfig(max_num_seqs=4, max_num_batched_tokens=8), bm)
    a, b = _seq([1, 2, 3, 4]), _seq([5, 6, 7, 8])
    sch.add(a)
    sch.add(b)
    assert len(sch.schedule()) == 2
    for s in (a, b):
        s.num_computed = 4
        s.token_ids.append(9)  # each decode now needs a second block; one is free
    step = sch.schedule()
    assert [(s.seq_id, n) for s, n in step] == [(a.seq_id, 1)]
    assert sch.preemptions == 1 and b.status is Status.WAITING and sch.waiting[0] is b
    assert b.block_table == [] and b.num_computed == 0 and bm.n_free == 1
    _refcounts_consistent(bm, [a])
    sch.finish(a)
    assert bm.n_free == 3
    _refcounts_consistent(bm, [])
