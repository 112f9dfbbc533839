"""LangChain interop: our `Retriever` as a `BaseRetriever`, chunks as LangChain `Document`s."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from ingest.records import Chunk
from retrieval.retriever import Hit, Retriever


def chunk_to_document(chunk: Chunk) -> LCDocument:
    return LCDocument(page_content=chunk.text, metadata={"id": chunk.id, "source": chunk.source, **chunk.metadata})


def hit_to_document(hit: Hit) -> LCDocument:
    return LCDocument(
        page_content=hit.text, metadata={"id": hit.id, "source": hit.source, "score": hit.score, **hit.metadata}
    )


class LonghaulRetriever(BaseRetriever):
    """``LonghaulRetriever(retriever=Retriever.live(root), k=20).invoke("question")`` -> list of Documents."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Any  # a retrieval.retriever.Retriever (Any keeps pydantic from inspecting it)
    k: int = 20
    filters: dict[str, Any] | None = None
    rerank: bool = True

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[LCDocument]:
        assert isinstance(self.retriever, Retriever)
        hits = self.retriever.search(query, k=self.k, filters=self.filters, rerank=self.rerank)
        return [hit_to_document(h) for h in hits]
