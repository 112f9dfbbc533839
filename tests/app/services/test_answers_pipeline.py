"""`Pipeline` over fake stages: the index version is read once and retrieved from, and `Answer` carries the
engine's own token counts and KV bytes."""

from __future__ import annotations

import pytest

from app.services.answers import AskOptions, Pipeline
from tests.helpers.answers import CountingGenerator, SwappingSource


def _pipeline(llm: CountingGenerator, source: SwappingSource) -> Pipeline:
    return Pipeline(llm=llm, retrievers=source, max_question_chars=200)


def test_the_live_version_is_read_once_and_retrieved_from_across_a_swap() -> None:
    source = SwappingSource("v000001", "v000002")
    answer = _pipeline(CountingGenerator(), source).ask("What was scanned for order #100231?", "acme",
                                                        AskOptions(mode="retrieval_only"))
    assert source.reads == 1 and source.retrieved == [("acme", "v000001")]
    assert answer.index_version == "v000001" and answer.to_json()["index_version"] == "v000001"
    assert all("index v000001" in c["text"] for c in answer.citations)


def test_a_given_version_is_retrieved_from_without_reading_the_live_one() -> None:
    source = SwappingSource()
    answer = _pipeline(CountingGenerator(), source).ask("order #100231?", "acme", AskOptions(mode="long_context",
                                                                                            max_new_tokens=8),
                                                        version="v000009")
    assert source.reads == 0 and source.retrieved == [("acme", "v000009")]
    assert answer.index_version == "v000009"


def test_answer_carries_the_engines_token_counts_summed_over_attempts() -> None:
    llm = CountingGenerator(n_generated=7)
    answer = _pipeline(llm, SwappingSource()).ask("What was scanned for order #100231?", "acme",
                                                  AskOptions(budget=512, max_new_tokens=8))
    gens = llm.generations
    assert len(gens) == 2 and len(answer.attempts) == 2  # unsupported: one retry on a narrower context
    assert answer.prompt_tokens == sum(g.prompt_tokens for g in gens) > 0
    assert answer.generated_tokens == 7 * len(gens)
    assert answer.kv_bytes == max(llm.kv_bytes_for(g.prompt_tokens + 7) for g in gens)
    assert answer.to_json()["usage"] == {"prompt_tokens": answer.prompt_tokens, "generated_tokens": 14,
                                         "kv_bytes": answer.kv_bytes}
    assert answer.context_tokens <= 512 and answer.fallback


def test_retrieval_only_runs_no_engine_and_counts_nothing() -> None:
    llm = CountingGenerator()
    answer = _pipeline(llm, SwappingSource()).ask("order #100231?", "acme", AskOptions(mode="retrieval_only"))
    assert llm.generations == [] and (answer.prompt_tokens, answer.generated_tokens, answer.kv_bytes) == (0, 0, 0)


def test_public_evidence_is_what_ask_packs_from() -> None:
    source = SwappingSource()
    ev = _pipeline(CountingGenerator(), source).evidence("order #100231?", "acme", AskOptions(k=2),
                                                         version="v000003")
    assert [e.id for e in ev] == ["v000003#0", "v000003#1"] and [e.rank for e in ev] == [1, 2]


def test_questions_over_the_limit_are_refused() -> None:
    with pytest.raises(ValueError, match="the limit is 200"):
        _pipeline(CountingGenerator(), SwappingSource()).ask("x" * 201, "acme")
