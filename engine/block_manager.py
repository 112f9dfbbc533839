"""Block tables over one pool of fixed-size KV blocks (nano-vllm's ``block_manager.py``), with prefix sharing.

The pool itself (tensors) is `engine.kv.paged.PagedKV`; this class only hands out block ids. A sequence's
``block_table[i]`` holds its tokens ``[i * block_size, (i + 1) * block_size)``.

Prefix sharing: a *full, computed* block is registered under ``hash((parent hash, its tokens))``, so equal hashes
mean equal token prefixes. A new sequence's full prompt blocks are looked up in order; hits are shared (reference
count + 1) and not recomputed. Blocks are registered only once their KV has been written (`commit`), never at
allocation, since with chunked prefill an allocated block may not be computed yet. A freed block keeps its hash in
the free queue (least recently freed is reused first), so a later request can still revive it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from engine.sequence import Sequence


def block_hash(tokens: list[int], parent: int) -> int:
    """The hash of a full block: its tokens after the hash of the block before it (-1 for the first block)."""
    return hash((parent, tuple(tokens)))


@dataclass
class Block:
    block_id: int
    ref_count: int = 0
    hash: int = -1  # -1: not registered (not full, or not computed yet)
    tokens: list[int] = field(default_factory=list)


class BlockManager:
    """Allocation, freeing and prefix lookup of ``n_blocks`` blocks of ``block_size`` tokens."""

    def __init__(self, n_blocks: int, block_size: int) -> None:
        if n_blocks < 1 or block_size < 1:
            raise ValueError(f"need n_blocks >= 1 and block_size >= 1, got {n_blocks} and {block_size}")
        self.block_size = block_size
        self.blocks = [Block(i) for i in range(n_blocks)]
        self.free: deque[int] = deque(range(n_blocks))  # ref_count 0; left = reused first
        self.by_hash: dict[int, int] = {}
        self.computed_hits = 0  # tokens whose KV was shared instead of computed, over the manager's life

    @property
    def n_free(self) -> int:
        return len(self.free)

    def _take(self) -> int:
        bid = self.free.popleft()
        block = self.blocks[bid]
        assert block.ref_count == 0
        if block.hash != -1 and self.by_hash.get(block.hash) == bid:
            del self.by_hash[block.hash]
        block.hash, block.tokens, block.ref_count = -1, [], 1
        return bid

    def _prefix_hits(self, seq: Sequence) -> list[int]:
        """Block ids holding ``seq``'s leading full blocks, in order, as far as the prefix cache has them. The last
        token is always left to compute (its logits are needed), so a whole-prompt hit drops its last block."""
        hits, parent, bs = [], -1, self.block_size
        for i in range((len(seq) - 1) // bs):
            tokens = seq.block_tokens(i, bs)
            h = block_hash(tokens, parent)
            bid = self.by_hash.get(h)
            if bid is None or self.blocks[bid].tokens != tokens:
                break
            hits.append(bid)
            parent = h
        return hits

    def can_allocate(self, seq: Sequence) -> bool:
        """Whether all of ``seq``'s current tokens fit: blocks beyond the prefix hits must come from the free queue
        (a hit sitting in the free queue counts against it too)."""
        hits = self._prefix_hits(seq)
        revived = sum(1 for b in hits if self.blocks[b].ref_count == 0)
        return seq.num_blocks(self.block_size) - len(hits) + revived <= self.n_free

    def allocate(self, seq: Sequence) -> None:
        """Give ``seq`` blocks for every current token; shared prefix blocks count as computed."""
        assert not seq.block_table, "allocate once per admission"
        hits = self._prefix_hits(seq)
        for bid in hits:
            block = self.blocks[bid]
            if block.ref_count == 0:
                self.free.remove(bid)
            block.ref_count += 1
        seq.block_table = hits + [self._take() for _ in range(seq.num_blocks(self.block_size) - len(hits))]
        seq.num_computed = len(hits) * self.block_size
        if seq.num_new == 0:
            seq.num_cached = seq.num_computed
        self.computed_hits += seq.num_computed

    def deallocate(self, seq: Sequence) -> None:
        """Drop ``seq``'s references (finished or preempted); blocks no one holds go back to the free queue."""
        for bid in reversed(seq.block_table):  # the tail is freed first, so the shared head lives longest
            block = self.blocks[bid]
            block.ref_count -= 1
            assert block.ref_count >= 0
            if block.ref_count == 0:
                self.free.append(bid)
        seq.block_table, seq.num_computed = [], 0

    def can_append(self, seq: Sequence) -> bool:
        """Whether the next token of a decoding ``seq`` has room (a new block is needed every block_size tokens)."""
        return len(seq.block_table) >= seq.num_blocks(self.block_size) or self.n_free >= 1

    def may_append(self, seq: Sequence) -> None:
        """Grow ``seq``'s table to cover all its tokens (one new block at most while decoding)."""
        while len(seq.block_table) < seq.num_blocks(self.block_size):
            seq.block_table.append(self._take())

    def commit(self, seq: Sequence, before: int) -> None:
        """Register the blocks that became full and computed as ``seq.num_computed`` went from ``before`` up."""
        bs = self.block_size
        first, last = before // bs, seq.num_computed // bs  # blocks [first, last) are now full and computed
        parent = self.blocks[seq.block_table[first - 1]].hash if first > 0 else -1
        for i in range(first, last):
            block = self.blocks[seq.block_table[i]]
            tokens = seq.block_tokens(i, bs)
            if parent == -1 and i > 0:  # an unregistered parent (should not happen): stop the chain here
                break
            h = block_hash(tokens, parent)
            if block.hash == -1:
                block.hash, block.tokens = h, tokens
                self.by_hash.setdefault(h, block.block_id)
            parent = block.hash
