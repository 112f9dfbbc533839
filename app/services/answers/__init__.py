"""Answering a question: `Pipeline` (retrieve -> pack -> generate -> verify) over two injected stages (a
`Generator`, a `RetrieverSource`), `AskOptions` (the options, defined once) and `Answer` (the result).

Exports load lazily, so that the CLI, which builds `longhaul ask`'s flags from `AskOptions` at start-up, imports
neither the pipeline's stages nor the settings for `longhaul --help`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.services.answers.answer import Answer, Usage
    from app.services.answers.contracts import GenerationLike, Generator, Record, RetrieverSource, SearchesRecords
    from app.services.answers.lazy import LazyLLM
    from app.services.answers.options import MODES, AskOptions, Mode
    from app.services.answers.pipeline import Pipeline
    from app.services.answers.tenant_terms import constraints_of, lexicon_of
    from app.services.answers.wiring import pipeline_for

_EXPORTS = {
    "Answer": "answer", "Usage": "answer", "GenerationLike": "contracts", "Generator": "contracts",
    "Record": "contracts", "RetrieverSource": "contracts", "SearchesRecords": "contracts", "LazyLLM": "lazy",
    "MODES": "options", "AskOptions": "options", "Mode": "options", "Pipeline": "pipeline",
    "constraints_of": "tenant_terms", "lexicon_of": "tenant_terms", "pipeline_for": "wiring",
}
__all__ = ["MODES", "Answer", "AskOptions", "GenerationLike", "Generator", "LazyLLM", "Mode",
           "Pipeline", "Record", "RetrieverSource", "SearchesRecords", "Usage", "constraints_of", "lexicon_of",
           "pipeline_for"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'app.services.answers' has no attribute {name!r}")
    return getattr(import_module(f"app.services.answers.{_EXPORTS[name]}"), name)
