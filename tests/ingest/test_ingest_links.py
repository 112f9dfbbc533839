"""Records linked across files by shared order, tracking and RMA ids, on a small multi-file history."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.chunker import ChunkConfig, chunk_file
from ingest.links import Links, build_links
from ingest.loaders import discover, load_file
from ingest.records import Chunk
from ingest.vocabulary import learn_vocabulary
from tests.ingest.tenants import tenant_a, tenant_b


def _words(text: str) -> int:
    return len(text.split())


def _chunks(root: Path) -> list[Chunk]:
    files, _ = discover(root)
    # small chunks: one order row, one scan event each
    return [c for f in files for c in chunk_file(load_file(f, root), _words, ChunkConfig(max_tokens=24))[0]]


@pytest.fixture(scope="module")
def history_b(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Chunk], Links]:
    root = tenant_b(tmp_path_factory.mktemp("b"))
    chunks = _chunks(root)
    return chunks, build_links(chunks, learn_vocabulary(root))


def _by_text(chunks: list[Chunk], needle: str) -> str:
    return next(c.id for c in chunks if needle in c.text)


def test_rma_reaches_order_row_and_scans_naming_only_tracking(history_b: tuple[list[Chunk], Links]) -> None:
    chunks, links = history_b
    rma = _by_text(chunks, "RMA-2021-00412")
    assert links.names[rma] == {"order": ["84976"], "rma": ["RMA-2021-00412"], "tracking": ["ATP900000001"]}
    row = _by_text(chunks, "84976,2021-03-01")
    pipe_scan = _by_text(chunks, "2021-03-03 09:10|ATP100200300")  # names only the tracking number
    return_scan = _by_text(chunks, "ATP900000001 received")
    one = links.linked(rma, hops=1)
    assert row in one and return_scan in one and pipe_scan not in one
    two = links.linked(rma, hops=2)
    assert pipe_scan in two and two.index(row) < two.index(pipe_scan)
    assert rma not in two
    other_order = _by_text(chunks, "84978,2021-03-02")
    assert other_order not in two and links.linked(rma, hops=0) == []


def test_about_and_json_round_trip(history_b: tuple[list[Chunk], Links]) -> None:
    chunks, links = history_b
    scans = links.about("tracking", "ATP100200300")
    assert len(scans) >= 3 and all("ATP100200300" in next(c.text for c in chunks if c.id == s) for s in scans)
    again = Links.from_json(links.to_json())
    assert again.names == links.names and again.naming == links.naming
    assert again.linked(scans[0]) == links.linked(scans[0])


def test_world_a_history_links_returns_to_scans(tmp_path: Path) -> None:
    root = tenant_a(tmp_path)
    chunks = _chunks(root)
    links = build_links(chunks, learn_vocabulary(root))
    ret = _by_text(chunks, "RT-2021-00001")
    scans = [c.id for c in chunks if c.doc_id.startswith("scans/") and "SKX7731290042" in c.text]
    assert scans and all(s in links.linked(ret, hops=2) for s in scans)


def test_negative_hops_is_an_error() -> None:
    with pytest.raises(ValueError, match="hops"):
        Links().linked("x", hops=-1)
