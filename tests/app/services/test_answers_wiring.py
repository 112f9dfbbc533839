"""`pipeline_for` wires every process's `Pipeline`: the API's default pipeline retrieves through the `AppState`'s
own `RetrieverCache`, and building one loads no engine."""

from __future__ import annotations

from pathlib import Path

from app.api.state import build_state
from app.core.settings import Settings
from app.services.answers import LazyLLM, pipeline_for
from app.services.retrievers import RetrieverCache
from tests.helpers.fakes import HashEmbedder


def test_a_default_pipeline_has_its_own_cache_and_a_lazy_engine(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, max_question_chars=123)
    pipeline = pipeline_for(settings)
    assert isinstance(pipeline.retrievers, RetrieverCache) and pipeline.retrievers.settings is settings
    assert isinstance(pipeline.llm, LazyLLM) and pipeline.llm._engine is None  # nothing loaded yet
    assert pipeline.max_question_chars == 123


def test_the_api_pipeline_retrieves_through_the_states_retriever_cache(tmp_path: Path) -> None:
    embedder = HashEmbedder()
    state = build_state(Settings(data_dir=tmp_path), embedder=embedder)
    try:
        assert state.pipeline.retrievers is state.retrievers and state.retrievers.embedder is embedder
    finally:
        state.close()


def test_counting_a_prompt_loads_no_weights() -> None:
    """An over-long question is refused by the packer's budget before any weights load (issue 20)."""
    loads: list[str] = []

    def load() -> LazyLLM:  # never called
        loads.append("engine")
        raise AssertionError("the engine was loaded")

    def tokenizer() -> object:
        loads.append("tokenizer")
        return object()

    llm = LazyLLM(load, tokenizer)  # type: ignore[arg-type]
    assert llm.tokenizer is llm.tokenizer and loads == ["tokenizer"] and llm._engine is None
