"""KV cache storage, compression policies (StreamingLLM, H2O, SnapKV, PyramidKV, AdaKV, ChunkKV, and record-aware
ones that keep the prompt's records whole) and quantized storage.

Per request: ``LLM.generate(prompt, kv_policy=KVSpec(SnapKV(ratio=4), dtype="int8"))``; a bare policy works too.

Exports load lazily, so that ``import engine.kv.formats`` (the torch-free format table the planner reads) does not
import torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.kv.adakv import AdaKV
    from engine.kv.cache import KVCache
    from engine.kv.chunkkv import ChunkKV
    from engine.kv.compressed import CompressedKVCache, KVSpec
    from engine.kv.formats import FORMATS, QuantFormat
    from engine.kv.h2o import H2O
    from engine.kv.names import POLICIES, make_policy, parse_kv_spec
    from engine.kv.policy import WHEN, Policy, ScoreInputs
    from engine.kv.pyramidkv import PyramidKV
    from engine.kv.quant import PLAIN_DTYPES, dequantize, quantize
    from engine.kv.records import RecordKV, RecordKVAgnostic, RecordKVPerHead
    from engine.kv.segments import SEGMENT_KINDS, Segment
    from engine.kv.snapkv import SnapKV
    from engine.kv.streaming import StreamingLLM

_EXPORTS = {
    "AdaKV": "engine.kv.adakv", "KVCache": "engine.kv.cache", "ChunkKV": "engine.kv.chunkkv",
    "CompressedKVCache": "engine.kv.compressed", "KVSpec": "engine.kv.compressed", "FORMATS": "engine.kv.formats",
    "QuantFormat": "engine.kv.formats", "H2O": "engine.kv.h2o", "POLICIES": "engine.kv.names",
    "make_policy": "engine.kv.names", "parse_kv_spec": "engine.kv.names", "WHEN": "engine.kv.policy",
    "Policy": "engine.kv.policy", "ScoreInputs": "engine.kv.policy", "PyramidKV": "engine.kv.pyramidkv",
    "PLAIN_DTYPES": "engine.kv.quant", "dequantize": "engine.kv.quant", "quantize": "engine.kv.quant",
    "SnapKV": "engine.kv.snapkv", "StreamingLLM": "engine.kv.streaming", "RecordKV": "engine.kv.records",
    "RecordKVAgnostic": "engine.kv.records", "RecordKVPerHead": "engine.kv.records",
    "SEGMENT_KINDS": "engine.kv.segments", "Segment": "engine.kv.segments",
}
__all__ = ["FORMATS", "PLAIN_DTYPES", "POLICIES", "SEGMENT_KINDS", "WHEN", "H2O", "AdaKV", "ChunkKV",
           "CompressedKVCache", "KVCache", "KVSpec", "Policy", "PyramidKV", "QuantFormat", "RecordKV",
           "RecordKVAgnostic", "RecordKVPerHead", "ScoreInputs", "Segment", "SnapKV", "StreamingLLM", "dequantize",
           "make_policy", "parse_kv_spec", "quantize"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'engine.kv' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
