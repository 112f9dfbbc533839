"""`AskOptions.kv`: the request's KV cache, parsed once and handed to the engine as a KVSpec."""

from __future__ import annotations

import pytest

from app.services.answers import AskOptions, Pipeline
from engine.kv import ChunkKV, KVSpec


def test_kv_option_becomes_the_engines_kv_policy() -> None:
    assert Pipeline._kv_kwargs(AskOptions()) == {} and Pipeline._kv_kwargs(AskOptions(kv="full")) == {}
    spec = Pipeline._kv_kwargs(AskOptions(kv="chunkkv@4:int8"))["kv_policy"]
    assert isinstance(spec, KVSpec) and isinstance(spec.policy, ChunkKV) and spec.dtype == "int8"


def test_a_bad_kv_option_fails_before_any_work() -> None:
    with pytest.raises(ValueError, match="policy@ratio"):
        AskOptions(kv="snapkv@four")
