"""A hand-written tenant folder read as the answer stages see it: its learned vocabulary, its chunks and their fact
table (no index, no embedder)."""

from __future__ import annotations

from pathlib import Path

from app.services.answers.computed import fact_table
from engine.tokenizer import load_tokenizer
from ingest.chunker import chunk_file
from ingest.loaders import discover, load_file
from ingest.records import Chunk
from ingest.vocab_model import Vocabulary
from ingest.vocabulary import learn_vocabulary
from packing.facts import FactTable


def read_tenant(root: Path) -> tuple[Vocabulary, list[Chunk], FactTable]:
    vocab = learn_vocabulary(root)
    count = load_tokenizer().count
    files, _ = discover(root)
    chunks = [c for f in files for c in chunk_file(load_file(f, root), count, vocab=vocab)[0]]
    return vocab, chunks, fact_table(chunks, vocab)
