"""Chunker invariants on the fixture corpus: token limit, whole events, grouping, order, stable ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.tokenizer import load_tokenizer
from ingest.chunker import ChunkConfig, chunk_file
from ingest.loaders import discover, load_file
from ingest.vocab_model import Vocabulary
from ingest.vocabulary import learn_vocabulary
from tests.helpers.corpus_fixture import write_fixture_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    write_fixture_corpus(root)
    return root / "docs"


@pytest.fixture(scope="module")
def vocab(corpus: Path) -> Vocabulary:
    return learn_vocabulary(corpus)


@pytest.fixture(scope="module")
def count():
    return load_tokenizer().count


@pytest.mark.parametrize("max_tokens", [128, 256])
def test_limits_and_whole_lines(corpus: Path, count, max_tokens: int) -> None:
    files, _ = discover(corpus)
    for f in files:
        chunks, issues = chunk_file(load_file(f, corpus), count, ChunkConfig(max_tokens))
        assert issues == []
        assert all(c.n_tokens <= max_tokens for c in chunks), f
        assert all(c.n_tokens == count(c.text) for c in chunks)
        chunk_lines = [set(c.text.splitlines()) for c in chunks]
        if f.suffix == ".jsonl":  # records are rendered, not copied (see test_ingest_loaders)
            continue
        for line in f.read_text().splitlines():
            if line.strip():
                assert any(line in lines for lines in chunk_lines), (f, line)  # every line intact in some chunk


def test_scans_grouped_by_shipment_in_time_order(corpus: Path, count, vocab: Vocabulary) -> None:
    for f in sorted((corpus / "scans").glob("*.log")):
        chunks, _ = chunk_file(load_file(f, corpus), count, vocab=vocab)
        for c in chunks:
            lines = c.text.splitlines()
            assert len({ln.split()[2] for ln in lines}) == 1  # one tracking number per chunk
            stamps = [ln.split()[0] for ln in lines]
            assert stamps == sorted(stamps)
            assert c.metadata["timestamp"] == stamps[0]
            assert c.metadata["order_ids"] and c.metadata["doc_type"] == "scan"


def test_markdown_sections_carry_headings(corpus: Path, count, vocab: Vocabulary) -> None:
    f = corpus / "notes" / "LEJ1_2021_03.md"
    chunks, _ = chunk_file(load_file(f, corpus), count, vocab=vocab)
    assert len(chunks) == 3
    for c in chunks:
        title, heading = c.text.splitlines()[:2]
        assert title == "# LEJ1 warehouse notes, March 2021" and heading.startswith("## 2021-03-")
        assert c.metadata["fcs"] == ["LEJ1"] and c.metadata["timestamp"] == heading[3:13]


def test_ids_stable_and_sources_point_at_lines(corpus: Path, count) -> None:
    files, _ = discover(corpus)
    for f in files:
        a, _ = chunk_file(load_file(f, corpus), count)
        b, _ = chunk_file(load_file(f, corpus), count)
        assert [(c.id, c.sha256) for c in a] == [(c.id, c.sha256) for c in b]
        lines = f.read_text().splitlines()
        for c in a:
            doc, span = c.source.rsplit(":", 1)
            first, last = (int(x) for x in span.split("-"))
            assert doc == c.doc_id and 1 <= first <= last <= len(lines)
            if f.suffix == ".jsonl":
                assert f'"{c.text.split()[0]}"' in lines[first - 1]  # the record id
            else:
                assert lines[first - 1] in c.text


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        ChunkConfig(max_tokens=4)
