"""KV policies and cache choices by name: `POLICIES`, `make_policy`, and `parse_kv_spec` for text such as
``snapkv@4:int8`` (CLI flags, settings, eval sweeps)."""

from __future__ import annotations

from engine.kv.adakv import AdaKV
from engine.kv.chunkkv import ChunkKV
from engine.kv.compressed import KVSpec
from engine.kv.formats import FORMATS
from engine.kv.h2o import H2O
from engine.kv.policy import Policy
from engine.kv.pyramidkv import PyramidKV
from engine.kv.quant import PLAIN_DTYPES
from engine.kv.records import RecordKV, RecordKVAgnostic, RecordKVPerHead
from engine.kv.snapkv import SnapKV
from engine.kv.streaming import StreamingLLM

POLICIES: dict[str, type[Policy]] = {"streamingllm": StreamingLLM, "h2o": H2O, "snapkv": SnapKV,
                                     "pyramidkv": PyramidKV, "adakv": AdaKV, "chunkkv": ChunkKV,
                                     "records": RecordKV, "records-head": RecordKVPerHead,
                                     "records-agnostic": RecordKVAgnostic}


def make_policy(name: str, **kwargs: object) -> Policy:
    """Build a policy by name (``adakv`` wraps SnapKV with the same kwargs)."""
    if name not in POLICIES:
        raise ValueError(f"unknown KV policy {name!r}: choose one of {', '.join(POLICIES)}")
    if name == "adakv":
        return AdaKV(inner=SnapKV(**kwargs))  # type: ignore[arg-type]
    return POLICIES[name](**kwargs)  # type: ignore[arg-type]


def parse_kv_spec(text: str, *, when: str = "end") -> KVSpec:
    """A cache choice from text: ``policy@ratio`` (``chunkkv@4``), optionally ``:dtype`` for the storage
    (``snapkv@4:int8``); a bare dtype (``int8``) is the full cache in that format; ``full`` is the plain cache.
    ``records@4`` (and ``records-head``, ``records-agnostic``) keeps whole records: it needs the prompt's segments,
    set on the returned spec (``KVSpec.segments``) per prompt."""
    body = text.strip()
    if body in ("", "full"):
        return KVSpec()
    if "@" not in body:
        if body not in FORMATS and body not in PLAIN_DTYPES:
            raise ValueError(f"unknown KV cache {text!r}: write policy@ratio[:dtype] (e.g. chunkkv@4, snapkv@4:int8) "
                             f"or a dtype ({', '.join([*FORMATS, *PLAIN_DTYPES])})")
        return KVSpec(dtype=body)
    name, _, rest = body.partition("@")
    ratio, _, dtype = rest.partition(":")
    try:
        r = float(ratio)
    except ValueError as exc:
        raise ValueError(f"{text!r}: write policy@ratio, e.g. chunkkv@4") from exc
    policy = make_policy(name, ratio=r, when=when)
    return KVSpec(policy, dtype=dtype) if dtype else KVSpec(policy)
