"""Ring attention prefill: a sequence sharded across ranks, KV blocks circulated around the ring, merged exactly.

Zigzag load balance (Brandon et al. 2023, "Striped/zigzag" ring attention; Liu et al. 2023, "Ring Attention"): the
``T`` positions are cut into ``2N`` contiguous chunks (sizes differing by at most one) and rank ``r`` holds chunks
``r`` and ``2N-1-r``, so under a causal mask every rank does the same work at every ring step:

* step 0, its own block: (lo, lo) causal, (hi, lo) full, (hi, hi) causal;
* a block from rank ``j < r``: all local queries see key chunk ``j`` in full, none sees chunk ``2N-1-j``;
* a block from rank ``j > r``: only the ``hi`` queries see anything, and they see both chunks in full.

Each step posts the send of the block in hand and the receive of the next one (double buffering) before computing,
so communication hides behind attention. Blocks travel as one flat byte buffer holding keys and values with their
``Hkv`` heads (never expanded to ``Hq``), optionally quantized to INT8 or FP8 with one fp32 scale per token and head.
Partial results merge in fp32 with ``out += sigmoid(lse_b - lse) * (out_b - out)``, ``lse = logaddexp(lse, lse_b)``,
whose exponents never exceed zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist

from engine.attention import attention

QUANT_MODES: dict[str, tuple[torch.dtype, float]] = {"int8": (torch.int8, 127.0), "fp8": (torch.float8_e4m3fn, 448.0)}


@dataclass(frozen=True)
class ZigzagPlan:
    """Which positions of a ``total``-token sequence each of ``world`` ranks holds (this one is ``rank``)."""

    total: int
    world: int
    rank: int

    def __post_init__(self) -> None:
        if self.world < 1 or not 0 <= self.rank < self.world:
            raise ValueError(f"rank {self.rank} is outside a world of {self.world} ranks")
        if self.total < self.world:
            raise ValueError(f"a sequence of {self.total} tokens cannot be split across {self.world} ranks: "
                             "use fewer ranks or a longer sequence")

    def chunk(self, c: int) -> tuple[int, int]:
        """Positions ``[start, end)`` of chunk ``c`` of ``2 * world``."""
        n, size = 2 * self.world, self.total // (2 * self.world)
        extra = self.total % n
        start = c * size + min(c, extra)
        return start, start + size + (c < extra)

    def chunks_of(self, r: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """The ``lo`` and ``hi`` chunk ranges of rank ``r``."""
        return self.chunk(r), self.chunk(2 * self.world - 1 - r)

    def lo_len(self, r: int) -> int:
        a, b = self.chunk(r)
        return b - a

    def local_len(self, r: int | None = None) -> int:
        (a, b), (c, d) = self.chunks_of(self.rank if r is None else r)
        return b - a + d - c

    def positions(self, r: int | None = None) -> torch.Tensor:
        """Global positions held by rank ``r`` (default: this rank), ``lo`` chunk then ``hi`` chunk: (n_local,)."""
        (a, b), (c, d) = self.chunks_of(self.rank if r is None else r)
        return torch.cat([torch.arange(a, b), torch.arange(c, d)])

    def owner(self, pos: int) -> tuple[int, int]:
        """The rank holding global position ``pos`` and its index there."""
        for r in range(self.world):
            (a, b), (c, d) = self.chunks_of(r)
            if a <= pos < b:
                return r, pos - a
            if c <= pos < d:
                return r, b - a + pos - c
        raise ValueError(f"position {pos} is outside the sequence of {self.total}")


def _merge_into(out: torch.Tensor, lse: torch.Tensor, out_b: torch.Tensor, lse_b: torch.Tensor) -> None:
    """In place: fold a partial result over other keys into the fp32 accumulators ``out`` (.., D), ``lse`` (..)."""
    w = torch.sigmoid(lse_b - lse)  # weight of the new block; 1 where nothing was accumulated yet (lse = -inf)
    out.lerp_(out_b.float(), w.unsqueeze(-1))
    torch.logaddexp(lse, lse_b, out=lse)


class BlockCodec:
    """Packs a rank's keys and values (2, B, Hkv, n, D) into one flat byte buffer and back, optionally quantized."""

    def __init__(self, like: torch.Tensor, quant: str | None) -> None:
        if quant is not None and quant not in QUANT_MODES:
            raise ValueError(f"unknown KV quantization {quant!r}: choose one of None, {', '.join(QUANT_MODES)}")
        self.dtype, self.quant = like.dtype, quant
        self.b, self.h, _, self.d = like.shape
        self.wire = QUANT_MODES[quant][0] if quant else like.dtype
        self.elem = torch.empty((), dtype=self.wire).element_size()

    def nbytes(self, n: int) -> int:
        values = 2 * self.b * self.h * n * self.d * self.elem
        return values + (2 * self.b * self.h * n * 4 if self.quant else 0)

    def encode(self, k: torch.Tensor, v: torch.Tensor, buf: torch.Tensor) -> None:
        """Write ``k, v`` (B, Hkv, n, D) into ``buf[:nbytes(n)]`` (uint8)."""
        n = k.shape[2]
        if self.quant is None:
            kv = buf[:self.nbytes(n)].view(self.dtype).view(2, self.b, self.h, n, self.d)
            kv[0].copy_(k)
            kv[1].copy_(v)
            return
        kv = torch.stack([k, v])  # (2, B, Hkv, n, D)
        wire, qmax = QUANT_MODES[self.quant]
        scale = kv.float().abs().amax(-1, keepdim=True).clamp_min(1e-12) / qmax  # (2, B, Hkv, n, 1)
        q = kv.float() / scale
        q = q.round_().clamp_(-qmax, qmax).to(wire) if wire == torch.int8 else q.to(wire)
        split = q.numel() * self.elem
        assert split % 4 == 0, "head_dim is even, so the fp32 scales stay 4-byte aligned"
        buf[:split].copy_(q.reshape(-1).view(torch.uint8))
        buf[split:self.nbytes(n)].view(torch.float32).copy_(scale.reshape(-1))

    def decode(self, buf: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values (B, Hkv, n, D) in the model's dtype from ``buf`` as written by `encode`."""
        shape = (2, self.b, self.h, n, self.d)
        if self.quant is None:
            kv = buf[:self.nbytes(n)].view(self.dtype).view(shape)
            return kv[0], kv[1]
        split = 2 * self.b * self.h * n * self.d * self.elem
        q = buf[:split].view(self.wire).view(shape)
        scale = buf[split:self.nbytes(n)].view(torch.float32).view(*shape[:-1], 1)
        kv = (q.float() * scale).to(self.dtype)
        return kv[0], kv[1]


def _exchange(send: torch.Tensor, recv: torch.Tensor, group: dist.ProcessGroup | None, rank: int,
              world: int) -> list[dist.Work]:
    """Post the send of ``send`` to the next rank and the receive of ``recv`` from the previous one."""
    nxt = dist.get_global_rank(group, (rank + 1) % world) if group is not None else (rank + 1) % world
    prv = dist.get_global_rank(group, (rank - 1) % world) if group is not None else (rank - 1) % world
    ops = [dist.P2POp(dist.isend, send, nxt, group), dist.P2POp(dist.irecv, recv, prv, group)]
    return dist.batch_isend_irecv(ops)


def _attend(out: torch.Tensor, lse: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool,
            scale: float | None, backend: str) -> None:
    """Merge attention of ``q`` over ``k, v`` (a diagonal block when ``causal``) into the accumulator views."""
    if q.shape[2] and k.shape[2]:
        _merge_into(out, lse, *attention(q, k, v, causal=causal, q_offset=0, scale=scale, backend=backend))


def _accumulate(out: torch.Tensor, lse: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, src: int,
                plan: ZigzagPlan, causal: bool, scale: float | None, backend: str) -> None:
    """Fold the block of rank ``src`` into this rank's accumulators, skipping what the causal mask hides."""
    if not causal:
        return _attend(out, lse, q, k, v, False, scale, backend)
    me, nq, nk = plan.rank, plan.lo_len(plan.rank), plan.lo_len(src)
    if src == me:  # own block: lo and hi chunks on the diagonal, hi sees all of lo
        _attend(out[:, :, :nq], lse[:, :, :nq], q[:, :, :nq], k[:, :, :nq], v[:, :, :nq], True, scale, backend)
        _attend(out[:, :, nq:], lse[:, :, nq:], q[:, :, nq:], k[:, :, :nq], v[:, :, :nq], False, scale, backend)
        _attend(out[:, :, nq:], lse[:, :, nq:], q[:, :, nq:], k[:, :, nq:], v[:, :, nq:], True, scale, backend)
    elif src < me:  # every local query sees the earlier rank's lo chunk, none its hi chunk
        _attend(out, lse, q, k[:, :, :nk], v[:, :, :nk], False, scale, backend)
    else:  # only the hi queries see the later rank's chunks, both in full
        _attend(out[:, :, nq:], lse[:, :, nq:], q[:, :, nq:], k, v, False, scale, backend)


def ring_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, plan: ZigzagPlan,
                   group: dist.ProcessGroup | None = None, *, causal: bool = True, scale: float | None = None,
                   backend: str = "auto", quant: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact attention of this rank's queries over the whole sharded sequence.

    Parameters
    ----------
    q : (B, Hq, n_local, D)
        Queries at ``plan.positions()`` (this rank's zigzag shard).
    k, v : (B, Hkv, n_local, D)
        Keys and values of the same positions; ``Hq % Hkv == 0``.
    plan : ZigzagPlan
        The sharding, identical on every rank of ``group`` but for ``rank``.
    quant : None, "int8" or "fp8"
        Quantize the blocks on the wire (this rank's own block is always used exactly).

    Returns
    -------
    out : (B, Hq, n_local, D) in q's dtype, and lse : (B, Hq, n_local) fp32.
    """
    world, me = plan.world, plan.rank
    if q.shape[2] != plan.local_len() or k.shape[2] != plan.local_len():
        raise ValueError(f"rank {me} holds {plan.local_len()} positions but got q {tuple(q.shape)}, "
                         f"k {tuple(k.shape)}: shard inputs with plan.positions()")
    out = torch.zeros(q.shape, dtype=torch.float32, device=q.device)
    lse = torch.full(q.shape[:3], float("-inf"), dtype=torch.float32, device=q.device)
    codec = BlockCodec(k, quant)
    bufs = [torch.empty(0, dtype=torch.uint8, device=q.device)] * 2
    if world > 1:
        size = max(codec.nbytes(plan.local_len(r)) for r in range(world))
        bufs = [torch.empty(size, dtype=torch.uint8, device=q.device) for _ in range(2)]
        codec.encode(k, v, bufs[0])
    for step in range(world):
        src = (me - step) % world
        cur, nxt = bufs[step % 2], bufs[(step + 1) % 2]
        works: list[dist.Work] = []
        if step < world - 1:
            incoming = codec.nbytes(plan.local_len((src - 1) % world))
            works = _exchange(cur[:codec.nbytes(plan.local_len(src))], nxt[:incoming], group, me, world)
        kb, vb = (k, v) if step == 0 else codec.decode(cur, plan.local_len(src))
        _accumulate(out, lse, q, kb, vb, src, plan, causal, scale, backend)
        for work in works:
            work.wait()
    return out.to(q.dtype), lse
