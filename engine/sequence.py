"""One request of the serving core (nano-vllm's ``sequence.py``): its token ids, sampling parameters, KV bookkeeping.

`SamplingParams` is the one place a request's sampling is validated. A `Sequence` holds the prompt and the tokens
generated so far in one list; ``num_computed`` counts the leading tokens whose keys and values are in the block pool
(engine/block_manager.py), so the next forward pass takes ``token_ids[num_computed:]`` (a prefill chunk, or one
token when decoding). Preemption sets ``num_computed`` back to 0: the whole sequence is recomputed on re-admission.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from enum import Enum, auto

import torch

from engine.kv.compressed import KVSpec
from engine.stops import StopText


@dataclass(frozen=True)
class SamplingParams:
    """How one request samples and when it stops. ``temperature == 0`` is greedy; ``seed`` None draws a fresh one.

    ``stop``: strings that end the text (cut before them); ``stop_token_ids``: tokens that end it (with the
    tokenizer's end-of-sequence token unless ``ignore_eos``); ``max_tokens``: new tokens at most.
    """

    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()
    ignore_eos: bool = False
    kv_spec: KVSpec | None = None

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must lie in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if isinstance(self.stop, str) or any(not isinstance(s, str) or not s for s in self.stop):
            raise TypeError(f"stop must be a sequence of non-empty strings, got {self.stop!r}")
        if self.kv_spec is not None:
            raise ValueError("compressed or quantized KV (kv_spec) is not served by the batch path yet: use "
                             "LLM.generate(..., kv_policy=...) for such a request")
        object.__setattr__(self, "stop", tuple(self.stop))
        object.__setattr__(self, "stop_token_ids", tuple(int(t) for t in self.stop_token_ids))


class Status(Enum):
    WAITING = auto()
    RUNNING = auto()
    FINISHED = auto()


_ids = itertools.count()


@dataclass(eq=False)
class Sequence:
    """A request in flight. ``token_ids`` = prompt + generated; ``block_table`` the pool blocks holding its KV."""

    token_ids: list[int]
    params: SamplingParams
    num_prompt: int = 0
    seq_id: int = field(default_factory=lambda: next(_ids))
    status: Status = Status.WAITING
    num_computed: int = 0  # leading tokens whose KV is in the pool
    num_cached: int = 0  # prompt tokens found in the prefix cache at (first) admission
    block_table: list[int] = field(default_factory=list)
    finish_reason: str = ""  # "stop" or "length" once finished
    max_len: int = 1 << 62  # the model's context: the last position that may be written
    generator: torch.Generator | None = None
    texts: StopText | None = None

    def __post_init__(self) -> None:
        if not self.token_ids:
            raise ValueError("the prompt is empty: pass some token ids")
        self.num_prompt = self.num_prompt or len(self.token_ids)

    @classmethod
    def new(cls, ids: Seq[int], params: SamplingParams, *, vocab_size: int, max_len: int,
            device: str | torch.device = "cpu") -> Sequence:
        """A validated request: ids in the vocabulary, the prompt within the context, its own random stream."""
        ids = [int(t) for t in ids]
        if not ids:
            raise ValueError("the prompt is empty: pass some text or token ids")
        if len(ids) > max_len:
            raise ValueError(f"the prompt has {len(ids)} tokens but max_seq_len is {max_len}: shorten it or load "
                             "the model with a larger max_seq_len")
        if min(ids) < 0 or max(ids) >= vocab_size:
            raise ValueError(f"token ids must lie in [0, {vocab_size})")
        gen = torch.Generator(device=device)
        gen.manual_seed(params.seed) if params.seed is not None else gen.seed()
        return cls(ids, params, max_len=max_len, generator=gen)

    def __len__(self) -> int:
        return len(self.token_ids)

    @property
    def output_ids(self) -> list[int]:
        return self.token_ids[self.num_prompt:]

    @property
    def num_new(self) -> int:
        """Tokens generated so far."""
        return len(self.token_ids) - self.num_prompt

    @property
    def to_compute(self) -> int:
        """Tokens the next forward passes must run before a token can be sampled (1 while decoding)."""
        return len(self.token_ids) - self.num_computed

    @property
    def is_decoding(self) -> bool:
        return self.num_computed > 0 and self.to_compute == 1 and self.num_computed >= self.num_prompt

    @property
    def is_finished(self) -> bool:
        return self.status is Status.FINISHED

    def num_blocks(self, block_size: int, n_tokens: int | None = None) -> int:
        """Blocks that hold the first ``n_tokens`` (default: all) tokens' KV."""
        n = len(self.token_ids) if n_tokens is None else n_tokens
        return -(-n // block_size)

    def block_tokens(self, i: int, block_size: int) -> list[int]:
        return self.token_ids[i * block_size:(i + 1) * block_size]

    def append(self, token: int, stops: set[int]) -> None:
        """Take the sampled ``token`` and decide whether the request ends (as `engine.stops.decode_loop` does)."""
        if token in stops:
            self.status, self.finish_reason = Status.FINISHED, "stop"
            return
        self.token_ids.append(token)
        if self.texts is not None and self.texts.update(self.output_ids):
            self.status, self.finish_reason = Status.FINISHED, "stop"
            return
        total = min(self.num_prompt + self.params.max_tokens, self.max_len)
        if self.num_new >= self.params.max_tokens or len(self.token_ids) - 1 >= total:
            self.status, self.finish_reason = Status.FINISHED, "length"
