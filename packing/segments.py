"""Where the parts of a packed prompt lie: each evidence record, the question, the instructions, as character spans.

A record-aware KV cache (engine/kv/records.py) keeps or drops records whole and always keeps the question and the
instructions; it learns where they are from these spans, which the packer records as it renders the prompt (no
one parses the prompt back). `SegmentedPrompt` is the prompt text carrying its spans, so the spans travel with the
prompt through any ``generate(prompt)`` callback; a plain ``str`` prompt simply has none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SPAN_KINDS = ("record", "question", "instructions")


@dataclass(frozen=True)
class PromptSpan:
    """Characters ``[start, end)`` of a prompt and what they are: ``record``, ``question`` or ``instructions``."""

    start: int
    end: int
    kind: str


class SegmentedPrompt(str):
    """A prompt (a ``str``) with the spans of its parts, in text order."""

    segments: tuple[PromptSpan, ...]

    def __new__(cls, text: str, segments: Sequence[PromptSpan] = ()) -> SegmentedPrompt:
        obj = super().__new__(cls, text)
        obj.segments = tuple(segments)
        return obj


def prompt_segments(prompt: str) -> tuple[PromptSpan, ...]:
    """The spans a packed prompt carries; none for a plain string (e.g. a synthesis prompt)."""
    return prompt.segments if isinstance(prompt, SegmentedPrompt) else ()


def locate(prompt: str, system: str, user: str, blocks: Sequence[str], asks: Sequence[str],
           instruction: str) -> SegmentedPrompt:
    """``prompt`` (the chat-templated ``system`` + ``user`` turns) with the spans of its evidence ``blocks`` (in
    order), each occurrence of the question lines ``asks`` and the ``instruction`` line, found in that order."""
    spans: list[PromptSpan] = []
    if system:
        at = prompt.find(system)
        if at >= 0:
            spans.append(PromptSpan(at, at + len(system), "instructions"))
    base = prompt.find(user)
    if base < 0:
        raise ValueError("the user turn is not in the rendered prompt: the chat template changed it")
    body = user.find("Evidence:\n")
    cursor = body
    for block in blocks:
        at = user.find(block, cursor)
        if at < 0:
            raise ValueError("an evidence block is not in the rendered prompt")
        spans.append(PromptSpan(base + at, base + at + len(block), "record"))
        cursor = at + len(block)
    for ask in asks:
        for at in (user.find(ask), user.rfind(ask)):
            if at >= 0 and not any(s.start < base + at + len(ask) and base + at < s.end for s in spans):
                spans.append(PromptSpan(base + at, base + at + len(ask), "question"))
    at = user.rfind(instruction) if instruction else -1
    if at >= cursor:
        spans.append(PromptSpan(base + at, base + at + len(instruction), "instructions"))
    return SegmentedPrompt(prompt, sorted(spans, key=lambda s: s.start))
