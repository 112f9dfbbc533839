"""`AskOptions`: the per-question options, defined once. The CLI builds its flags from these fields (defaults and
help), the API's request bodies subclass the model with their tighter upper bounds, job items are validated by it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError, field_validator

if TYPE_CHECKING:
    from engine.kv import KVSpec

Mode = Literal["hybrid", "long_context", "retrieval_only"]
MODES: tuple[str, ...] = get_args(Mode)


class AskOptions(BaseModel):
    """Per-question options; ``budget`` is the packed prompt's size in engine tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Mode = Field(default="hybrid", description="hybrid, long_context or retrieval_only.")
    k: StrictInt = Field(default=24, ge=1, description="Evidence records retrieved.")
    budget: StrictInt = Field(default=3072, ge=256,
                              description="Packed prompt size in tokens (>= 256: a question and some evidence).")
    max_new_tokens: StrictInt = Field(default=160, ge=1, description="Longest answer in tokens.")
    # the cross-encoder adds ~2 s per question on a 2-core CPU; recall@20 is the same here
    rerank: StrictBool = Field(default=False, description="Rerank with the cross-encoder (~2 s on CPU).")
    order: str = Field(default="ours", description="Evidence order in the prompt: ours (best at both ends), "
                                                   "retrieval (rank order) or reorder (LongContextReorder).")
    kv: str = Field(default="full", description="KV cache: full, a dtype (int8) or policy@ratio[:dtype], e.g. "
                                                "chunkkv@4, snapkv@4:int8 or records@4 (keeps whole evidence "
                                                "records, the question and the instructions).")

    @field_validator("order")
    @classmethod
    def _known_order(cls, order: str) -> str:
        from packing.order import get_order

        get_order(order)  # ValueError listing the orders
        return order

    @field_validator("kv")
    @classmethod
    def _known_kv(cls, kv: str) -> str:
        kv = kv.strip() or "full"
        if kv != "full":
            from engine.kv import parse_kv_spec

            parse_kv_spec(kv)  # a clear error now, not after retrieval
        return kv

    @classmethod
    def of(cls, **values: Any) -> AskOptions:
        """The options from caller input (CLI flags, eval settings): a bad value raises one `ValueError` that names
        each bad option, e.g. ``k: Input should be greater than or equal to 1``."""
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ValueError("; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
                                       for e in exc.errors())) from None

    def kv_spec(self) -> KVSpec | None:
        """The engine's ``kv_policy`` for this request (an `engine.kv.KVSpec`), None for the plain full cache."""
        if self.kv == "full":
            return None
        from engine.kv import parse_kv_spec

        return parse_kv_spec(self.kv)

    def fields(self) -> dict[str, Any]:
        """The options as a plain dict (a cache key's part, a job item's stored options)."""
        return self.model_dump(include=set(AskOptions.model_fields))


def kv_for_prompt(spec: KVSpec | None, prompt: str) -> KVSpec | None:
    """One generation pass's KV choice: a record-aware policy gets the prompt's record, question and instruction
    spans (the packer's, `packing.prompt_segments`); a prompt without records (a synthesis pass) keeps every
    token, in the chosen storage dtype. Other choices are returned as they are."""
    if spec is None or spec.policy is None or not spec.policy.needs_segments:
        return spec
    from dataclasses import replace

    from engine.kv import KVSpec, Segment
    from packing import prompt_segments

    spans = prompt_segments(prompt)
    if not any(s.kind == "record" for s in spans):
        return KVSpec(dtype=spec.dtype)
    return replace(spec, segments=tuple(Segment(s.start, s.end, s.kind) for s in spans))
