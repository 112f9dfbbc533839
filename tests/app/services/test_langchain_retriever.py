"""The LangChain retriever opened by tenant name: LangChain's standard retriever tests (`langchain-tests`), and `k`,
filters and rerank honoured at call time, sync and async (fixture corpus, bag-of-words fake embedder)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.retrievers import BaseRetriever
from langchain_tests.integration_tests import RetrieversIntegrationTests

from app.core.db import Database
from app.core.settings import Settings
from app.services.ingest import ingest_directory
from app.services.langchain import TenantRetriever
from retrieval.langchain import LonghaulRetriever
from tests.helpers.corpus_fixture import write_fixture_corpus
from tests.helpers.fakes import HashEmbedder

QUERY = "order held for security review"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lc")
    write_fixture_corpus(root)
    settings = Settings(data_dir=root / "data")
    with Database.of(settings) as db:
        ingest_directory(root / "docs", "acme", settings, db.sessions, embedder=HashEmbedder())
    return settings.data_dir


class TestTenantRetrieverStandard(RetrieversIntegrationTests):
    """LangChain's own contract: `k` in the constructor and in `invoke`, Documents from `invoke` and `ainvoke`."""

    params: dict[str, Any] = {}

    @pytest.fixture(autouse=True)
    def _tenant(self, data_dir: Path) -> None:
        type(self).params = {"tenant": "acme", "data_dir": data_dir, "embedder": HashEmbedder()}

    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        return TenantRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return self.params

    @property
    def retriever_query_example(self) -> str:
        return QUERY


def _open(data_dir: Path, **fields: Any) -> TenantRetriever:
    return TenantRetriever(tenant="acme", data_dir=data_dir, embedder=HashEmbedder(), **fields)


def test_k_and_filters_at_call_time_win_over_the_constructor(data_dir: Path) -> None:
    retriever = _open(data_dir, k=20)
    assert len(retriever.invoke(QUERY)) == 20
    assert len(retriever.invoke(QUERY, k=1)) == 1
    refunds = retriever.invoke("damaged item refund", k=5, filters={"doc_type": "refund"})
    assert refunds and all(d.metadata["doc_type"] == "refund" for d in refunds)
    assert any(d.metadata["doc_type"] != "refund" for d in retriever.invoke("damaged item refund", k=20))


def test_call_time_filters_narrow_the_constructor_filters(data_dir: Path) -> None:
    retriever = _open(data_dir, k=10, filters={"date_from": "2022-01-01"})
    docs = retriever.invoke("scan delivered", filters={"doc_type": "scan"})
    assert docs and all(d.metadata["doc_type"] == "scan" and d.metadata["timestamp"][:4] == "2022" for d in docs)


async def test_ainvoke_honours_k_and_filters_and_matches_invoke(data_dir: Path) -> None:
    retriever = _open(data_dir)
    docs = await retriever.ainvoke("damaged item refund", k=3, filters={"doc_type": "refund"})
    assert [d.metadata["id"] for d in docs] == [d.metadata["id"] for d in retriever.invoke(
        "damaged item refund", k=3, filters={"doc_type": "refund"})]
    assert len(docs) == 3


def test_bad_input_is_named(data_dir: Path) -> None:
    with pytest.raises(ValueError, match="'nobody' has no index"):
        TenantRetriever(tenant="nobody", data_dir=data_dir, embedder=HashEmbedder())
    retriever = _open(data_dir)
    with pytest.raises(ValueError, match="at least one document"):
        retriever.invoke(QUERY, k=0)
    with pytest.raises(ValueError, match="unknown filter 'colour'"):
        retriever.invoke(QUERY, filters={"colour": "red"})
    with pytest.raises(ValueError, match="TenantRetriever"):
        LonghaulRetriever().invoke(QUERY)


def test_the_tenant_comes_from_the_settings_data_dir(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.setenv("LONGHAUL_DATA_DIR", str(data_dir))
    monkeypatch.chdir(tmp_path)
    docs = TenantRetriever(tenant="acme", embedder=HashEmbedder(), k=2).invoke(QUERY)
    assert len(docs) == 2 and docs[0].metadata["source"]
