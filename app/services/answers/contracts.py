"""What `Pipeline` needs of its two injected stages: the engine (`Generator`) and the tenants' retrievers
(`RetrieverSource`). `engine.llm.LLM`, `engine.parallel.llm.RingLLM` and `LazyLLM` are Generators;
`app.services.retrievers` gives the RetrieverSource; tests pass small fakes of either."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ingest.vocab_model import Vocabulary
from packing.facts import RecordLike
from packing.packer import TokenizerLike

if TYPE_CHECKING:  # engine.kv's classes load torch; the pipeline names them only in types
    from engine.kv import KVSpec


class GenerationLike(Protocol):
    """One generation's result, as `engine.llm.Generation` reports it."""

    @property
    def text(self) -> str: ...

    @property
    def prompt_tokens(self) -> int:
        """Tokens of the prompt as the engine encoded it."""
        ...

    @property
    def token_ids(self) -> list[int]:
        """The generated token ids (their count is the answer's length in tokens)."""
        ...


class Generator(Protocol):
    """The engine as the pipeline uses it: its tokenizer (the packer counts the budget with it), one generation per
    pass, and the KV cache size a number of tokens needs."""

    @property
    def tokenizer(self) -> TokenizerLike: ...

    def generate(self, prompt: str, *, max_new_tokens: int, stop: Sequence[str], chat: bool,
                 kv_policy: KVSpec | None, on_token: Callable[[str], None] | None = None) -> GenerationLike:
        """Continue ``prompt`` (already chat-templated when ``chat`` is False); ``kv_policy`` is an `engine.kv`
        ``KVSpec`` for a compressed or quantized cache, None for the plain cache; ``on_token`` is called with each
        piece of the text as it is generated (the pieces join to the result's text)."""
        ...

    def kv_bytes_for(self, n_tokens: int) -> int:
        """Bytes of a full-precision KV cache holding ``n_tokens`` tokens (all layers, K and V)."""
        ...


class Record(RecordLike, Protocol):
    """A retrieved record or an indexed chunk (`retrieval.retriever.Hit`, `ingest.records.Chunk`): what the fact
    table reads (id, source, text) and its extracted fields."""

    @property
    def metadata(self) -> Mapping[str, Any]:
        """Extracted fields; the pipeline reads ``timestamp`` (ISO) when present."""
        ...


class IndexedRecord(Record, Protocol):
    """A record of the index: it knows its document (the policy versions are read per document)."""

    @property
    def doc_id(self) -> str: ...


class ScoredRecord(Record, Protocol):
    @property
    def score(self) -> float: ...


class SearchesRecords(Protocol):
    """What the pipeline uses of one index version's `retrieval.retriever.Retriever`."""

    @property
    def chunks(self) -> Sequence[IndexedRecord]:
        """Every chunk of the version (long-context mode packs the most recent)."""
        ...

    @property
    def vocabulary(self) -> Vocabulary:
        """The tenant vocabulary the version was built with (the verifier and the prompt's constraints read it)."""
        ...

    def search(self, query: str, *, k: int, rerank: bool) -> Sequence[ScoredRecord]:
        """The top ``k`` records for ``query``, best first."""
        ...


class RetrieverSource(Protocol):
    """The tenants' retrievers by index version. A request reads `live_version` once and retrieves from that
    version, so an answer (and the cache entry keyed by its version) never mixes two versions during a swap."""

    def live_version(self, tenant: str) -> str:
        """The tenant's live index version; `ValueError` for a tenant never ingested."""
        ...

    def get(self, tenant: str, version: str) -> SearchesRecords:
        """The retriever of ``version`` of the tenant's index."""
        ...
