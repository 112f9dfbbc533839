"""The corpus generator: ground truth verbatim in the corpus, determinism, every question type, placement."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from corpus import CANONICAL_QUESTION, CorpusConfig, generate_corpus
from corpus.domain import EXCEPTION_CODES, ORDER_ID_RE
from corpus.planted import PLANTERS


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _corpus_text(out: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted((out / "docs").rglob("*")) if p.is_file())


def _questions(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "questions.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    generate_corpus(out, CorpusConfig(tokens=150_000, seed=7))
    return out


def test_every_evidence_string_is_verbatim_in_the_corpus(corpus: Path) -> None:
    text = _corpus_text(corpus)
    qs = _questions(corpus)
    assert qs, "no questions written"
    for q in qs:
        assert q["evidence"], q["id"]
        for ev in q["evidence"]:
            assert "\n" not in ev, f"{q['id']}: evidence spans lines"
            assert ev in text, f"{q['id']}: evidence not in corpus: {ev!r}"


def test_every_question_type_and_the_canonical_question_are_present(corpus: Path) -> None:
    qs = _questions(corpus)
    assert set(PLANTERS) <= {q["type"] for q in qs}
    assert CANONICAL_QUESTION in {q["question"] for q in qs}
    for q in qs:
        assert set(q) >= {"id", "question", "answer", "accept", "evidence", "type", "depth"}
        assert 0.0 <= q["depth"] <= 1.0


def test_same_seed_is_byte_identical_and_another_seed_differs(tmp_path: Path) -> None:
    cfg = CorpusConfig(tokens=60_000, seed=11)
    generate_corpus(tmp_path / "a", cfg)
    generate_corpus(tmp_path / "b", cfg)
    generate_corpus(tmp_path / "c", CorpusConfig(tokens=60_000, seed=12))
    assert _tree_digest(tmp_path / "a") == _tree_digest(tmp_path / "b")
    assert _tree_digest(tmp_path / "a") != _tree_digest(tmp_path / "c")


def test_rare_exception_codes_appear_only_where_planted(corpus: Path) -> None:
    """Filler never uses a rare code, so aggregation and cross-order answers are exact."""
    text = _corpus_text(corpus)
    for q in _questions(corpus):
        if q["type"] == "aggregation":
            code = "EX-91"
            year = q["question"].rstrip("?").split()[-1]
            city = q["question"].split("from the ")[1].split(" warehouse")[0]
            from corpus.domain import FULFILLMENT_CENTERS

            fc = next(f.code for f in FULFILLMENT_CENTERS if f.city == city)
            n = sum(1 for line in text.splitlines()
                    if line.startswith(year) and f" {code} " in line and f" HUB-{fc[:3]} " in line)
            assert str(n) == q["accept"][0], q
    rare = [e.code for e in EXCEPTION_CODES if not e.routine]
    scan_lines = [line for line in text.splitlines() if " EXCEPTION " in line]
    assert any(any(c in line for c in rare) for line in scan_lines)


def test_near_duplicate_order_ids_exist(corpus: Path) -> None:
    ids = set(ORDER_ID_RE.findall(_corpus_text(corpus)))
    assert "48291" in ids
    near = [i for i in ids if i != "48291" and sorted(i) == sorted("48291")]
    planted = {m for q in _questions(corpus) for m in ORDER_ID_RE.findall(q["answer"])}
    near_planted = [p for p in planted for i in ids if i != p and sorted(i) == sorted(p)]
    assert near or near_planted, "no near-duplicate order ids around planted ones"


def test_depth_places_planted_facts(tmp_path: Path) -> None:
    generate_corpus(tmp_path / "early", CorpusConfig(tokens=60_000, seed=1, depth=0.0, questions_per_type=1))
    qs = [q for q in _questions(tmp_path / "early") if q["id"] != "q-canonical"]
    assert all(q["depth"] <= 0.01 for q in qs)
    assert all(q["month"].startswith("2016") for q in qs)


@pytest.mark.parametrize("kwargs", [{"tokens": -1}, {"tokens": 100}, {"depth": 1.5}, {"questions_per_type": 0}])
def test_bad_config_is_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        CorpusConfig(**kwargs)


def test_refuses_a_foreign_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("precious")
    with pytest.raises(ValueError, match="not empty"):
        generate_corpus(tmp_path, CorpusConfig(tokens=30_000))
    assert (tmp_path / "mine.txt").read_text() == "precious"
