"""RULER-style passkey needles for the KV compression eval (Hsieh et al., "RULER", arXiv:2404.06654).

A five-digit pass key is planted at a relative ``depth`` among repeated filler sentences; the prompt ends with the
question and the answer prefix, so a base model completes it with the key (plain completion, no chat template).
The context (instruction, filler, needle) and the question are kept apart so a cache can be compressed before the
question is seen (question outside the compressed part) or after it (question inside).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import ClassVar, Protocol

HEAD = ("There is an important piece of information hidden inside a lot of irrelevant text. Find it and memorize "
        "it. I will quiz you about it.\n")
FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
QUESTION = "\nWhat is the pass key? The pass key is"


class Encoder(Protocol):
    def encode(self, text: str) -> list[int]: ...


@dataclass(frozen=True)
class Needle:
    """One prompt: ``context`` and ``question`` token ids, the ``answer`` string, its length and depth."""

    context: list[int]
    question: list[int]
    answer: str
    n_tokens: int
    depth: float
    task: ClassVar[str] = "passkey"

    @property
    def ids(self) -> list[int]:
        return self.context + self.question

    def correct(self, text: str) -> bool:
        """Whether the greedy answer ``text`` is right (here: the key appears in it)."""
        return self.answer in text

    def gist(self, text: str) -> str:
        """What two answers must share to agree: the first number (else the first line)."""
        nums = re.findall(r"\d+", text)
        return nums[0] if nums else text.strip().split("\n")[0]

    @property
    def key(self) -> str:
        """Names the item across runs (pairs rows of different runs and peers on the same items)."""
        return f"{self.n_tokens}@{self.depth}:{self.answer}"

    @property
    def cell(self) -> str:
        """The length@depth key of the per-cell accuracies."""
        return f"{self.n_tokens // 100 * 100}@{self.depth}"


def passkey(tok: Encoder, n_tokens: int, depth: float, key: int) -> Needle:
    """A prompt of about ``n_tokens`` tokens with the key at relative ``depth`` (0 = start, 1 = end)."""
    if not 0.0 <= depth <= 1.0:
        raise ValueError(f"depth must lie in [0, 1], got {depth}")
    needle = f"The pass key is {key}. Remember it. {key} is the pass key. "
    per = len(tok.encode(FILLER))
    reps = max(1, (n_tokens - len(tok.encode(HEAD + needle + QUESTION))) // per)
    before = round(reps * depth)
    context = tok.encode(HEAD + FILLER * before + needle + FILLER * (reps - before))
    return Needle(context, tok.encode(QUESTION), str(key), len(context) + len(tok.encode(QUESTION)), depth)


def needles(tok: Encoder, lengths: tuple[int, ...], depths: tuple[float, ...], seed: int = 0) -> list[Needle]:
    """One needle per (length, depth), with reproducible random keys."""
    rng = random.Random(seed)
    return [passkey(tok, n, d, rng.randint(10000, 99999)) for n in lengths for d in depths]


def to_json(items: list[Needle]) -> dict[str, list[dict[str, object]]]:
    """The needles as token ids, for a peer that must see exactly the same prompts (eval/kv/peer.py)."""
    return {"needles": [{"context": n.context, "question": n.question, "answer": n.answer, "n_tokens": n.n_tokens,
                         "depth": n.depth} for n in items]}
