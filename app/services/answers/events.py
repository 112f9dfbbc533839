"""`Progress`: what `Pipeline.ask` reports while it works, to an optional listener: each stage as it starts and ends
(retrieve, pack, generate, verify), the draft's text as the engine generates it, and the time to the first token.

A listener is any ``(event, data) -> None``; the API's stream (`app.api.stream`) and `longhaul ask` are the two.
It runs on the thread that answers, so it must be quick; an exception it raises ends the answer there (a stream
whose client went away stops the decode that way).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

Listener = Callable[[str, dict[str, Any]], None]


class Progress:
    """Times one answer's stages and forwards them to ``listener``.

    Events: ``stage`` ``{"stage", "status": "start"|"done", "ms"?, "attempt"?, ...}`` and ``token`` ``{"text",
    "attempt", "draft": true}``; the first token's event also carries ``ttft_ms`` (from the start of the answer).
    """

    def __init__(self, listener: Listener | None = None) -> None:
        self.listener = listener
        self.t0 = time.perf_counter()
        self.ttft_ms: float | None = None
        self.attempt = 0
        self._since = self.t0  # when the stage now running started

    def _emit(self, event: str, data: dict[str, Any]) -> None:
        if self.listener is not None:
            self.listener(event, data)

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1e3

    def start(self, stage: str, **data: Any) -> None:
        self._since = time.perf_counter()
        self._emit("stage", {"stage": stage, "status": "start", **data})

    def done(self, stage: str, **data: Any) -> None:
        ms = (time.perf_counter() - self._since) * 1e3
        self._emit("stage", {"stage": stage, "status": "done", "ms": round(ms, 2), **data})

    def generating(self) -> int:
        """A generation pass begins (the first after packing, or a retry after a failed verification); its
        number."""
        if self.attempt == 0:
            self.done("pack")
        else:
            self.done("verify", attempt=self.attempt, verified=False)
        self.attempt += 1
        self.start("generate", attempt=self.attempt)
        return self.attempt

    def generated(self, tokens: int) -> None:
        """The pass has ended; its draft is being verified."""
        self.done("generate", attempt=self.attempt, tokens=tokens)
        self.start("verify", attempt=self.attempt)

    def token(self, text: str) -> None:
        data: dict[str, Any] = {"text": text, "attempt": self.attempt, "draft": True}
        if self.ttft_ms is None:
            self.ttft_ms = data["ttft_ms"] = round(self.elapsed_ms(), 2)
        self._emit("token", data)

    def finished(self, verified: bool) -> None:
        """The answer is composed: the last pass's verification is done (or, when no pass ran, the composing from
        the records)."""
        if self.attempt:
            self.done("verify", attempt=self.attempt, verified=verified)
        else:
            self.done("pack")


def verdict_of(answer: dict[str, Any]) -> dict[str, Any]:
    """The verification verdict of an answer's JSON (`Answer.to_json`): verified or not, whether the model's draft
    was replaced by the records' timeline (``fallback``) or cut to its supported clauses (``partial``), and the
    drafts' claims the records do not support (``withdrawn``: left out of the answer)."""
    withdrawn: list[str] = []
    for attempt in answer.get("attempts", []):
        withdrawn += [c for c in attempt.get("unsupported", []) if c not in withdrawn]
    return {"verified": answer["verified"], "fallback": answer["fallback"], "partial": answer.get("partial", False),
            "withdrawn": withdrawn, "attempts": len(answer.get("attempts", []))}
