"""Incremental detokenisation with stop strings, shared by the single-device and the ring engines."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch

from engine.tokenizer import Tokenizer


class StopText:
    """The text of the tokens generated so far, cut before the first stop string.

    ``ready()`` returns only what is safe to stream: the last ``hold`` characters (and a trailing partial UTF-8
    character) are held back while a stop string may still be forming.
    """

    def __init__(self, tokenizer: Tokenizer, stop: Sequence[str]) -> None:
        self.tokenizer, self.stop = tokenizer, tuple(stop)
        self.hold = max((len(s) for s in self.stop), default=1) - 1
        self.text, self.sent = "", 0

    def update(self, ids: Sequence[int]) -> bool:
        """Decode ``ids``; True when a stop string has appeared (the text is then cut before it)."""
        text = self.tokenizer.decode(ids)
        hits = [text.find(s) for s in self.stop if s in text]
        self.text = text[: min(hits)] if hits else text
        return bool(hits)

    def ready(self) -> str:
        """New text safe to emit now."""
        safe = len(self.text) - self.hold - (1 if self.text.endswith("\ufffd") else 0)
        if safe <= self.sent:
            return ""
        piece, self.sent = self.text[self.sent : safe], safe
        return piece

    def rest(self) -> str:
        """Everything not emitted yet (call once generation has ended)."""
        piece, self.sent = self.text[self.sent :], len(self.text)
        return piece


@dataclass
class Decoded:
    """What `decode_loop` produced: the new token ids, why it stopped, and the next position to write."""

    pos: int
    new: list[int] = field(default_factory=list)
    reason: str = "length"


def decode_loop(nxt: torch.Tensor, step: Callable[[torch.Tensor, int], torch.Tensor],
                pick: Callable[[torch.Tensor], torch.Tensor], stops: set[int], texts: StopText,
                max_new_tokens: int, total: int, out: Decoded) -> Iterator[str]:
    """Decode from the first sampled token ``nxt`` (1,) until a stop token, a stop string or the length limit.

    ``step(token (1,), position)`` returns the next logits (1, vocab) and ``pick`` samples from them; streamable
    text is yielded as it becomes safe; ``out`` collects the tokens and the reason. One loop for every engine.
    """
    while True:
        tok = int(nxt[0])
        if tok in stops:
            out.reason = "stop"
            return
        out.new.append(tok)
        if texts.update(out.new):
            out.reason = "stop"
            return
        piece = texts.ready()
        if piece:
            yield piece
        if len(out.new) >= max_new_tokens or out.pos >= total:
            return
        logits = step(nxt, out.pos)
        out.pos += 1
        nxt = pick(logits)
