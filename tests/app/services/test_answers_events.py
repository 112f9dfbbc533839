"""`Pipeline.ask` with a listener: the stages in order as they run, the draft's tokens as the engine produces them,
the time to the first token, and the verdict of the answer (fake engine and retrievers)."""

from __future__ import annotations

from typing import Any

from app.services.answers import AskOptions, Pipeline
from app.services.answers.events import verdict_of
from tests.helpers.answers import CitingGenerator, CountingGenerator, SwappingSource

QUESTION = "What was scanned for order #100231?"


def _ask(llm: CountingGenerator, question: str = QUESTION, **options: Any) -> tuple[Any, list[tuple[str, Any]]]:
    events: list[tuple[str, Any]] = []
    pipeline = Pipeline(llm=llm, retrievers=SwappingSource("v1", "v1"), max_question_chars=500)
    answer = pipeline.ask(question, "acme", AskOptions(budget=512, max_new_tokens=16, **options),
                          listener=lambda e, d: events.append((e, d)))
    return answer, events


def _stages(events: list[tuple[str, Any]]) -> list[str]:
    return [f"{d['stage']}:{d['status']}" if e == "stage" else "token" for e, d in events]


def test_a_verified_lookup_reports_each_stage_then_its_tokens_in_order() -> None:
    answer, events = _ask(CitingGenerator())
    assert answer.verified and "[E" in answer.answer
    names = _stages(events)
    first, last = names.index("token"), len(names) - 1 - names[::-1].index("token")
    assert names[:first] == ["retrieve:start", "retrieve:done", "pack:start", "pack:done", "generate:start"]
    assert names[last + 1:] == ["generate:done", "verify:start", "verify:done"]
    assert "".join(d["text"] for e, d in events if e == "token") == answer.attempts[0]["answer"]
    tokens = [d for e, d in events if e == "token"]
    assert all(d["draft"] and d["attempt"] == 1 for d in tokens)
    assert "ttft_ms" in tokens[0] and all("ttft_ms" not in d for d in tokens[1:])
    assert answer.timings_ms["first_token"] == tokens[0]["ttft_ms"] <= answer.timings_ms["total"]
    assert events[-1][1]["verified"] is True
    assert verdict_of(answer.to_json()) == {"verified": True, "fallback": False, "partial": False, "withdrawn": [],
                                            "attempts": 1}


def test_an_unsupported_draft_is_retried_and_its_claims_are_named_as_withdrawn() -> None:
    answer, events = _ask(CountingGenerator())
    attempts = [d["attempt"] for e, d in events if e == "stage" and d["stage"] == "generate" and d["status"] == "start"]
    assert attempts == [1, 2]
    verify_done = [d for e, d in events if e == "stage" and d["stage"] == "verify" and d["status"] == "done"]
    assert [d["verified"] for d in verify_done] == [False, False]
    verdict = verdict_of(answer.to_json())
    assert verdict["verified"] is False and verdict["fallback"] is True and verdict["attempts"] == 2
    assert "#999999" in verdict["withdrawn"]


def test_retrieval_only_reports_retrieval_and_no_tokens() -> None:
    answer, events = _ask(CountingGenerator(), mode="retrieval_only")
    assert _stages(events) == ["retrieve:start", "retrieve:done"]
    assert "first_token" not in answer.timings_ms


def test_a_planned_question_streams_its_lookup_and_composes_the_parts() -> None:
    question = "What was scanned for order #100231, and how many orders were scanned at LEJ1?"
    answer, events = _ask(CitingGenerator(), question)
    assert len(answer.plan) == 2 and "EX-71" in answer.answer
    names = _stages(events)
    assert names[0] == "retrieve:start" and names[-1] == "verify:done" and "token" in names
    assert any("EX-71" in d["text"] for e, d in events if e == "token")  # the lookup part's draft streamed
    assert events[-1][1]["verified"] is True  # that pass verified, whatever the composed answer's verdict


def test_without_a_listener_the_answer_still_times_its_first_token() -> None:
    llm = CitingGenerator()
    answer = Pipeline(llm=llm, retrievers=SwappingSource("v1", "v1"), max_question_chars=500).ask(
        QUESTION, "acme", AskOptions(budget=512))
    assert answer.verified and answer.timings_ms["first_token"] > 0
