"""Incremental detokenisation with stop strings, shared by the single-device and the ring engines."""

from __future__ import annotations

from collections.abc import Sequence

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
