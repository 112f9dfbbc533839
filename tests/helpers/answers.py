"""Fakes of the pipeline's two injected stages: a `Generator` that counts what it was asked, and a `RetrieverSource`
whose live version moves on right after it is first read (a swap between reading the version and retrieving)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.tokenizer import Tokenizer, load_tokenizer
from ingest.vocab_model import Vocabulary


@dataclass(frozen=True)
class FakeRecord:
    id: str
    source: str
    text: str
    score: float = 1.0
    metadata: dict[str, Any] = field(default_factory=dict)


class FakeRetriever:
    """One index version's records; every search returns all of them, best first."""

    def __init__(self, version: str) -> None:
        self.chunks = [FakeRecord(f"{version}#{i}", f"scans/{version}.log:{i}-{i}",
                                  f"2021-03-0{i + 1} order #10023{i} scanned EX-7{i} at LEJ1 (index {version})",
                                  1.0 / (i + 1), {"timestamp": f"2021-03-0{i + 1}T10:00:00"})
                       for i in range(4)]
        self.vocabulary = Vocabulary()

    def search(self, query: str, *, k: int, rerank: bool) -> list[FakeRecord]:
        return self.chunks[:k]


class SwappingSource:
    """The live version is ``first`` for the first read and ``then`` ever after; records which versions were
    retrieved from."""

    def __init__(self, first: str = "v000001", then: str = "v000002") -> None:
        self.first, self.then = first, then
        self.reads = 0
        self.retrieved: list[tuple[str, str]] = []  # (tenant, version) per `get`

    def live_version(self, tenant: str) -> str:
        self.reads += 1
        return self.first if self.reads == 1 else self.then

    def get(self, tenant: str, version: str) -> FakeRetriever:
        self.retrieved.append((tenant, version))
        return FakeRetriever(version)


@dataclass
class FakeGeneration:
    text: str
    token_ids: list[int]
    prompt_tokens: int


class CountingGenerator:
    """Answers every prompt with a claim no record supports (so the pipeline retries once, then falls back) and
    keeps each generation; KV bytes are 1,000 per token."""

    def __init__(self, answer: str = "Order #999999 was refunded on 2020-01-01 [E1].", n_generated: int = 7) -> None:
        self.tokenizer: Tokenizer = load_tokenizer()
        self.answer, self.n_generated = answer, n_generated
        self.generations: list[FakeGeneration] = []

    def generate(self, prompt: str, *, max_new_tokens: int, stop: Sequence[str], chat: bool,
                 kv_policy: object | None, on_token: Callable[[str], None] | None = None) -> FakeGeneration:
        gen = FakeGeneration(self.answer, list(range(self.n_generated)), self.tokenizer.count(prompt))
        for piece in re.findall(r"\S+\s*", self.answer) if on_token else ():
            on_token(piece)
        self.generations.append(gen)
        return gen

    def kv_bytes_for(self, n_tokens: int) -> int:
        return 1000 * n_tokens


class CitingGenerator(CountingGenerator):
    """Answers with the scan of ``order`` from the record that holds it, cited by the label the prompt gave that
    record (a verifiable answer); ``delay_s`` passes before each token, so a stream can be watched arriving."""

    def __init__(self, order: str = "#100231", delay_s: float = 0.0) -> None:
        super().__init__()
        self.order, self.delay_s = order, delay_s

    def order_in(self, prompt: str) -> str:
        """The order to answer about (this fake's own; a subclass may read it from the prompt)."""
        return self.order

    def generate(self, prompt: str, *, max_new_tokens: int, stop: Sequence[str], chat: bool,
                 kv_policy: object | None, on_token: Callable[[str], None] | None = None) -> FakeGeneration:
        import time

        order = self.order_in(prompt)
        m = re.search(rf"\[(E\d+)\][^\n]*order {re.escape(order)} scanned (\S+) at (\S+)", prompt)
        text = f"Order {order} was scanned {m[2]} at {m[3]} [{m[1]}]." if m else "Not found in the evidence."
        pieces = re.findall(r"\S+\s*", text)
        for piece in pieces:
            time.sleep(self.delay_s)
            if on_token:
                on_token(piece)
        gen = FakeGeneration(text, list(range(len(pieces))), self.tokenizer.count(prompt))
        self.generations.append(gen)
        return gen
