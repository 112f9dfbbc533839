"""`RingLLM`: the `LLM` object API over ``world_size > 1`` ranks (ring prefill + sharded-KV decode).

Every rank holds the ring-transformed model. Rank 0 serves requests: `generate` / `stream` validate the request,
broadcast it (token ids + sizes) to the other ranks, and all ranks run the ring prefill and the sharded-cache
decode together. Rank 0 alone picks each next token (greedy or sampled) and applies stop tokens and strings; it
broadcasts ``(token, go)`` every step so the followers decode the same tokens and stop at the same step. Ranks > 0
call `follow`, which serves requests until rank 0 calls `close`. A request's ``kv_policy`` (a `KVSpec` or a bare
policy) compresses the sharded prompt with a global budget (`engine.parallel.compress`); its ``kv_bytes`` are the
sum over ranks.

    llm = RingLLM.load("synthetic:tiny-llama3")       # under torchrun: joins the process group from the env
    if llm.rank == 0: print(llm.generate("Hello", max_new_tokens=32).text); llm.close()
    else: llm.follow()
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from engine.kv.compressed import KVSpec
from engine.kv.policy import Policy
from engine.llm import LLM, Generation
from engine.model import Transformer
from engine.parallel.compress import CompressedShardedKVCache, ring_spec
from engine.parallel.decode import ShardedKVCache
from engine.parallel.ring import ZigzagPlan
from engine.parallel.transform import apply_ring, ring_decode, ring_prefill
from engine.sampling import sample
from engine.stops import Decoded, StopText, decode_loop
from engine.tokenizer import Tokenizer


class RingLLM(LLM):
    """`LLM` whose model runs ring-parallel over ``group``; construct it on every rank with the same model.

    ``idle_timeout_s`` bounds how long `follow` waits for the next request (the control channel is a separate gloo
    group with this timeout, so an idle server does not trip the data group's shorter timeout).
    """

    def __init__(self, model: Transformer, tokenizer: Tokenizer, *, max_seq_len: int,
                 group: dist.ProcessGroup | None = None, quant: str | None = None,
                 kv_budget_bytes: int | None = None, idle_timeout_s: float = 7 * 24 * 3600.0) -> None:
        if not dist.is_initialized():
            raise ValueError("RingLLM needs torch.distributed initialised: use RingLLM.load under torchrun, or "
                             "engine.parallel.launch.run_local")
        super().__init__(model, tokenizer, max_seq_len=max_seq_len, kv_budget_bytes=kv_budget_bytes,
                         decode_mode="eager")
        self.group = group
        self.world, self.rank = dist.get_world_size(group), dist.get_rank(group)
        if not hasattr(model, "ring_group"):
            apply_ring(model, group, quant=quant)
        ranks = dist.get_process_group_ranks(group) if group is not None else list(range(self.world))
        self._root = ranks[0]  # global rank of this group's rank 0
        self._control = dist.new_group(ranks, backend="gloo", timeout=timedelta(seconds=idle_timeout_s))
        self.closed = False
        self._lock = threading.Lock()  # one request at a time: interleaved broadcasts would desynchronise the ranks

    @classmethod
    def load(cls, model: str | Path | None = None, *, device: str | None = None,  # type: ignore[override]
             dtype: torch.dtype = torch.float32, max_seq_len: int | None = None,
             adapter: str | Path | None = "auto", threads: int | None = None, kv_budget_bytes: int | None = None,
             quant: str | None = None, backend: str | None = None, timeout_s: float = 600.0) -> RingLLM:
        """`LLM.load` on every rank, then the ring transform; joins torchrun's process group if not yet joined.

        ``device`` defaults to ``cuda:<LOCAL_RANK>`` under NCCL, else cpu. ``quant`` (None, int8, fp8) quantizes
        the KV blocks circulated during prefill.
        """
        from engine.parallel.launch import init_from_env

        if not dist.is_initialized():
            init_from_env(backend, timeout_s=timeout_s)
        if device is None:
            device = f"cuda:{torch.cuda.current_device()}" if dist.get_backend() == "nccl" else "cpu"
        base = LLM.load(model, device=device, dtype=dtype, max_seq_len=max_seq_len, adapter=adapter,
                        threads=threads, kv_budget_bytes=kv_budget_bytes)
        llm = cls(base.model, base.tokenizer, max_seq_len=base.max_seq_len, quant=quant,
                  kv_budget_bytes=kv_budget_bytes)
        llm.adapter = base.adapter
        return llm

    # -- the protocol ------------------------------------------------------------------------------------------------
    def _send(self, message: dict[str, Any] | None) -> dict[str, Any]:
        """Rank 0 sends ``message``; every rank returns it."""
        box: list[Any] = [message]
        dist.broadcast_object_list(box, src=self._root, group=self._control)
        return dict(box[0])

    def _step(self, tok: int, go: bool) -> tuple[int, bool]:
        """Rank 0's decision for this step, on every rank."""
        msg = torch.tensor([tok, int(go)], dtype=torch.int64, device=self.device)
        dist.broadcast(msg, src=self._root, group=self.group)
        return int(msg[0]), bool(msg[1])

    def _new_cache(self, n_prompt: int, total: int, spec: KVSpec | None = None) -> ShardedKVCache:
        if spec is not None:
            return CompressedShardedKVCache(self.config, spec, n_prompt, total - n_prompt, self.group,
                                            dtype=self.dtype, device=self.device)
        plans = [ZigzagPlan(n_prompt, self.world, r) for r in range(self.world)]
        capacity = max(max(p.local_len() for p in plans), -(-total // self.world)) + 1
        return ShardedKVCache(self.config, capacity, self.group, dtype=self.dtype, device=self.device)

    def _prefill_all(self, ids: list[int], total: int,
                     spec: KVSpec | None = None) -> tuple[torch.Tensor, ShardedKVCache]:
        cache = self._new_cache(len(ids), total, spec)
        logits = ring_prefill(self.model, torch.tensor([ids], device=self.device), cache)
        return logits[:, -1], cache

    def follow(self) -> int:
        """Ranks > 0: serve rank 0's requests until it calls `close`; returns the number of requests served."""
        if self.rank == 0:
            raise ValueError("follow() is for ranks > 0; rank 0 calls generate() and close()")
        served = 0
        while True:
            msg = self._send(None)
            if msg["op"] == "close":
                self.closed = True
                return served
            _, cache = self._prefill_all(msg["ids"], msg["total"], msg.get("kv"))
            while True:
                tok, go = self._step(0, False)
                if not go:
                    break
                ring_decode(self.model, torch.tensor([[tok]], device=self.device), cache)
            served += 1

    def close(self) -> None:
        """Rank 0: tell the followers to return from `follow` (idempotent)."""
        if self.rank != 0:
            raise ValueError("close() is called on rank 0; the other ranks return from follow()")
        with self._lock:
            if not self.closed:
                self._send({"op": "close"})
                self.closed = True

    # -- requests (rank 0) -------------------------------------------------------------------------------------------
    def _run(self, prompt: str | list[int], max_new_tokens: int, temperature: float, top_p: float,
             seed: int | None, stop: Sequence[str], stop_token_ids: Sequence[int], chat: bool,
             kv_policy: KVSpec | Policy | None, ignore_eos: bool, out: list[Generation]) -> Iterator[str]:
        with self._lock:
            yield from self._serve(prompt, max_new_tokens, temperature, top_p, seed, stop, stop_token_ids, chat,
                                   kv_policy, ignore_eos, out)

    def _serve(self, prompt: str | list[int], max_new_tokens: int, temperature: float, top_p: float,
               seed: int | None, stop: Sequence[str], stop_token_ids: Sequence[int], chat: bool,
               kv_policy: KVSpec | Policy | None, ignore_eos: bool, out: list[Generation]) -> Iterator[str]:
        if self.rank != 0:
            raise ValueError("generate() runs on rank 0 only; call follow() on the other ranks")
        if self.closed:
            raise ValueError("this RingLLM was closed: load a new one")
        spec = None if kv_policy is None else ring_spec(kv_policy, self.dtype)  # refused here, before any work
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        ids = self._prompt_ids(prompt, chat)[0]
        if len(ids) < self.world:
            raise ValueError(f"the prompt has {len(ids)} tokens but the ring has {self.world} ranks: send at least "
                             f"{self.world} tokens or use fewer GPUs")
        total = min(len(ids) + max_new_tokens, self.max_seq_len)
        need = self.kv_bytes_for(total)
        if self.kv_budget_bytes is not None and need > self.kv_budget_bytes:
            raise ValueError(f"request needs {need / 2**20:.1f} MiB of KV cache but the budget is "
                             f"{self.kv_budget_bytes / 2**20:.1f} MiB: shorten the prompt or max_new_tokens")
        gen = torch.Generator(device=self.device)
        gen.manual_seed(seed) if seed is not None else gen.seed()
        stops = {int(t) for t in stop_token_ids} | (set() if ignore_eos else {self.tokenizer.eos_id})
        texts = StopText(self.tokenizer, stop)

        t0 = time.perf_counter()
        self._send({"op": "generate", "ids": ids, "total": total, "kv": spec})  # from here on every step is broadcast
        logits, cache = self._prefill_all(ids, total, spec)
        nxt = sample(logits, temperature, top_p, gen)
        t1 = time.perf_counter()
        done = Decoded(pos=len(ids))

        def step(token: torch.Tensor, _: int) -> torch.Tensor:
            self._step(int(token[0]), True)  # the followers run the same decode step
            return ring_decode(self.model, token.view(1, 1).to(self.device), cache)[:, -1]

        try:
            yield from decode_loop(nxt, step, lambda logits: sample(logits, temperature, top_p, gen), stops, texts,
                                   max_new_tokens, total, done)
        finally:  # also when a stream is abandoned or a step fails on rank 0: release the followers
            self._step(0, False)
        new, reason = done.new, done.reason
        piece, text = texts.rest(), texts.text
        if piece:
            yield piece
        t2 = time.perf_counter()
        prefill_s, decode_s = t1 - t0, t2 - t1
        kv_stats = cache.stats() if isinstance(cache, CompressedShardedKVCache) else {}
        out.append(Generation(
            text=text, token_ids=new, prompt_tokens=len(ids), finish_reason=reason,
            timings_ms={"prefill": prefill_s * 1e3, "decode": decode_s * 1e3},
            prefill_tok_s=len(ids) / prefill_s if prefill_s > 0 else 0.0,
            decode_tok_s=max(len(new) - 1, 0) / decode_s if decode_s > 0 and len(new) > 1 else 0.0,
            kv_bytes=kv_stats.get("kv_bytes", self.kv_bytes_for(len(ids) + len(new))),
            kv_stats={"world_size": self.world, "shard_lengths": list(cache.lengths), **kv_stats}))
