"""`AskOptions`: defined once; the KV option parsed once and handed to the engine as a KVSpec; bad input is one clear
`ValueError` (CLI) or a 422 field error (API, with its tighter upper bounds)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.api.schemas import AskRequest, ReconcileIn
from app.services.answers import AskOptions
from engine.kv import ChunkKV, KVSpec


def test_kv_option_becomes_the_engines_kv_policy() -> None:
    assert AskOptions().kv_spec() is None and AskOptions(kv="full").kv_spec() is None
    assert AskOptions(kv=" ").kv == "full"
    spec = AskOptions(kv="chunkkv@4:int8").kv_spec()
    assert isinstance(spec, KVSpec) and isinstance(spec.policy, ChunkKV) and spec.dtype == "int8"


def test_a_bad_kv_option_fails_before_any_work() -> None:
    with pytest.raises(ValueError, match="policy@ratio"):
        AskOptions(kv="snapkv@four")


def test_caller_input_errors_name_each_bad_option() -> None:
    with pytest.raises(ValueError) as exc:
        AskOptions.of(k=0, mode="psychic", order="sideways")
    message = str(exc.value)
    assert not isinstance(exc.value, ValidationError) and "\n" not in message
    assert "k: Input should be greater than or equal to 1" in message
    assert "mode: Input should be 'hybrid', 'long_context' or 'retrieval_only'" in message
    assert "order: unknown order 'sideways'" in message


def test_the_api_models_reuse_the_options_with_tighter_upper_bounds() -> None:
    body = AskRequest(question="q")
    assert body.options() == AskOptions().fields()  # same fields and defaults, without question and use_cache
    assert AskOptions(k=1000, budget=100_000, max_new_tokens=4096).k == 1000  # the CLI has no upper bounds
    for name, too_big in (("k", 101), ("budget", 8193), ("max_new_tokens", 513)):
        with pytest.raises(ValidationError) as exc:
            AskRequest.model_validate({"question": "q", name: too_big})
        assert exc.value.errors()[0]["type"] == "less_than_equal"
    with pytest.raises(ValidationError) as exc:
        AskRequest(question="q", k=0)
    assert exc.value.errors()[0]["type"] == "greater_than_equal"  # the lower bound comes from AskOptions
    with pytest.raises(ValidationError) as exc:
        AskRequest(question="q", k=True)
    assert exc.value.errors()[0]["type"] == "int_type"  # and so does strictness
    job = ReconcileIn(orders=["#1"], k=7)
    assert job.options() == AskOptions(k=7).fields()
