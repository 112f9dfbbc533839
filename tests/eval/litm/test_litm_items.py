"""eval/litm/items: lookup items from a small generated corpus (whitespace token counts, no LLM)."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpus import CorpusConfig, generate_corpus
from eval.litm.items import litm_items


def _count(text: str) -> int:
    return len(text.split())


def test_litm_items_short_records_fit_the_limit(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    generate_corpus(corpus, CorpusConfig(tokens=20_000, seed=9001, questions_per_type=4),
                    lambda lines: sum(_count(x) + 1 for x in lines))
    items = litm_items(corpus, _count, n_distractors=9, max_record_tokens=80)
    assert items
    for it in items:
        assert len(it.distractors) == 9 and it.gold not in it.distractors
        assert all(_count(t) <= 80 for t in (it.gold, *it.distractors))
        assert not any(a in d for a in it.answers for d in it.distractors)
    with pytest.raises(ValueError, match="no lookup questions"):
        litm_items(corpus, _count, n_distractors=9, max_record_tokens=1)
