"""`pipeline_for`: the one place a process's `Pipeline` is wired from its settings (the API's `AppState`,
`longhaul serve --gpus`, the Celery worker, the CLI commands)."""

from __future__ import annotations

from app.core.settings import Settings
from app.services.answers.contracts import Generator, RetrieverSource
from app.services.answers.lazy import LazyLLM
from app.services.answers.pipeline import Pipeline


def pipeline_for(settings: Settings, *, llm: Generator | None = None,
                 retrievers: RetrieverSource | None = None) -> Pipeline:
    """``llm``: default the bundled engine, loaded on the first generated answer; ``retrievers``: default a
    `RetrieverCache` of this pipeline's own (the API passes the one its `AppState` holds, with the batching
    embedder)."""
    if retrievers is None:
        from app.services.retrievers import RetrieverCache

        retrievers = RetrieverCache(settings)
    return Pipeline(llm=llm or LazyLLM.bundled(settings.threads, settings.weights), retrievers=retrievers,
                    max_question_chars=settings.max_question_chars)
