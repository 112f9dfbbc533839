"""The hybrid Retriever end to end on the fixture corpus (bag-of-words fake embedder) and its LangChain adapter."""

from __future__ import annotations

import pytest

from engine.tokenizer import load_tokenizer
from ingest.chunker import chunk_file
from ingest.loaders import discover, load_file
from ingest.vocabulary import learn_vocabulary
from retrieval.index import build_version
from retrieval.langchain import LonghaulRetriever
from retrieval.rerank import KeyMatchReranker
from retrieval.retriever import Retriever
from tests.helpers.corpus_fixture import write_fixture_corpus
from tests.helpers.fakes import HashEmbedder


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Retriever, dict]:
    root = tmp_path_factory.mktemp("r")
    facts = write_fixture_corpus(root)
    count = load_tokenizer().count
    files, _ = discover(root / "docs")
    vocab = learn_vocabulary(root / "docs")  # as the ingest job does: the tenant's ids and codes, from its data
    chunks = [c for f in files for c in chunk_file(load_file(f, root / "docs"), count, vocab=vocab)[0]]
    emb = HashEmbedder()
    vdir = build_version(root / "index", "v000001", chunks, emb.encode([c.text for c in chunks]), vocab)
    return Retriever.load(vdir, embedder=emb, reranker=KeyMatchReranker()), facts


def test_needle_found_first(built) -> None:
    ret, facts = built
    order, line = facts["needle"]
    for rerank in (False, True):
        hits = ret.search(f"Why was order {order} held for security review?", k=5, rerank=rerank)
        assert line in hits[0].text
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert hits[0].metadata["timestamp"] and hits[0].source.startswith("scans/")


def test_filters_restrict_every_list(built) -> None:
    ret, _ = built
    hits = ret.search("refund damaged", k=20, filters={"doc_type": ["refund", "return"], "date_from": "2021-02-01"})
    assert hits and all(h.metadata["doc_type"] in ("refund", "return") for h in hits)
    assert all(h.metadata["timestamp"][:10] >= "2021-02-01" for h in hits)
    hits = ret.search("what happened at the Leipzig warehouse", k=10, filters={"fc": "LEJ1"})
    assert hits and all("LEJ1" in h.metadata["fcs"] for h in hits)


def test_baselines_and_bad_input(built) -> None:
    ret, facts = built
    order, line = facts["needle"]
    assert any(line in h.text for h in ret.bm25(f"{order} seal breach", k=5))
    assert len(ret.dense_search("seal breach", k=7)) == 7
    with pytest.raises(ValueError, match="at least one hit"):
        ret.search("x", k=0)


def test_langchain_adapter(built) -> None:
    ret, facts = built
    order, line = facts["needle"]
    docs = LonghaulRetriever(retriever=ret, k=3).invoke(f"order {order} security review")
    assert len(docs) == 3 and line in docs[0].page_content
    assert docs[0].metadata["source"].startswith("scans/") and "score" in docs[0].metadata


def test_policy_in_effect_on_a_date(tmp_path) -> None:
    versions = [(1, "2016-01-01", 30), (2, "2019-03-01", 21), (3, "2024-05-01", 10)]
    docs = tmp_path / "docs" / "policies"
    docs.mkdir(parents=True)
    for v, eff, days in versions:
        (docs / f"POL-REFUND_v{v}.md").write_text(
            f"# POL-REFUND v{v} — effective {eff}\n\n## Section 1\n\nRefunds are issued within {days} days of the "
            "return being received.\n\n## Section 2\n\nRefunds go back to the original payment method.\n"
        )
    (docs / "POL-RETURNS_v1.md").write_text(
        "# POL-RETURNS v1 — effective 2016-01-01\n\n## Scope\n\nReturns within 30 days.\n"
    )
    count = load_tokenizer().count
    files, _ = discover(tmp_path / "docs")
    vocab = learn_vocabulary(tmp_path / "docs")
    chunks = [c for f in files for c in chunk_file(load_file(f, tmp_path / "docs"), count, vocab=vocab)[0]]
    emb = HashEmbedder()
    ret = Retriever.load(
        build_version(tmp_path / "i", "v000001", chunks, emb.encode([c.text for c in chunks]), vocab),
        embedder=emb,
        reranker=KeyMatchReranker(),
    )
    for day, (v, eff, days) in (("2020-08-18", versions[1]), ("2025-07-19", versions[2]), ("2017-05-01", versions[0])):
        q = f"Which version of the refund policy was in effect on {day}, and what refund window did it set?"
        hits = ret.search(q, k=2, rerank=False)
        assert all(h.text.startswith(f"# POL-REFUND v{v} — effective {eff}") for h in hits), (day, hits)
        assert any(f"within {days} days" in h.text for h in hits)
        assert any(f"within {days} days" in h.text for h in ret.search(q, k=4, rerank=True))
