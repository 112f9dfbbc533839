"""Lookups about one order answered from its own records, on a tenant whose ids, codes and formats are not the
generator's: its items and outbound tracking number, the day it was delivered, and why its refund took long (the
hold on the return leg, not the outbound one); None where the question names no single order or the records do not
settle it; and the pipeline's use of it when the model's draft cannot be verified."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from app.services.answers import AskOptions, Pipeline
from app.services.answers.about import answer_about, identify
from ingest.records import Chunk
from ingest.vocab_model import Vocabulary
from packing.facts import FactTable
from retrieval.retriever import Hit
from tests.helpers.answers import CountingGenerator
from tests.helpers.tenant_records import read_tenant
from tests.ingest.tenants import tenant_b, write


def _extend(root: Path) -> Path:
    write(root, "reference/codes.csv", "code,meaning\nHOLD-SEC,packaging tampered; sent to security review\n"
                                       "D17,address label unreadable\nR09,return label void; waited for a new label\n"
                                       "DELIVERED,handed to the consignee\nD22,consignee not available\n")
    write(root, "scans/last_mile.log",
          "2021-03-06 18:00|ATP100200300|CUSTOMER|EXC|D22\n"
          "2021-03-08 10:00|ATP100200300|CUSTOMER|DELIVERED|\n"
          "2021-03-06 12:00|NFX500600700|CUSTOMER|DELIVERED|\n"
          "2021-03-09 12:00|NFX500600700|CUSTOMER|DELIVERED|\n")
    more = [(85000 + i, f"NFX5006008{i:02d}") for i in range(8)]  # orders that went well: statuses are routine
    write(root, "orders/orders_2021b.csv", "order_ref,placed,site,carrier,tracking_no,item\n" + "".join(
        f"{o},2021-03-04,US-RNO,NFX,{t},EL-TAB-X10\n" for o, t in more))
    write(root, "scans/more_last_mile.log", "".join(f"2021-03-07 12:00|{t}|CUSTOMER|DELIVERED|\n" for _, t in more))
    write(root, "returns/return_holds.log", "2021-03-23T09:00:00Z parcel ATP900000001 held @DE-LEJ code R09\n")
    write(root, "ledger/refunds_2021.csv", "txn,posted_on,order_ref,amount_eur,memo\n"
                                          "RF1,2021-04-02,84976,120.00,refund issued\n")
    write(root, "notes/2021-03.md", "# Notes\n\n## 2021-03-24\n\n09:00 Kim Lee: buyer chasing the refund on order "
                                    "84976; the returned phone waits for a new label under code R09 before we can "
                                    "pay out.\n")
    return root


@pytest.fixture(scope="module")
def tenant(tmp_path_factory: pytest.TempPathFactory) -> tuple[Vocabulary, list[Chunk], FactTable]:
    return read_tenant(_extend(tenant_b(tmp_path_factory.mktemp("b"))))


def test_items_and_the_outbound_tracking_number(tenant) -> None:
    vocab, _, table = tenant
    got = answer_about("What was on order 84976, and which tracking number did it ship under?", vocab, table)
    assert got is not None and got.verified
    assert "ATP100200300" in got.text and "EL-PHN-X12" in got.text
    assert "ATP900000001" not in got.text  # the return's parcel is not what it shipped under
    assert got.text.count("[E") == len(got.record_ids) or got.record_ids


def test_the_day_it_finally_reached_the_customer(tenant) -> None:
    vocab, _, table = tenant
    got = answer_about("Order 84976 had a failed delivery attempt. On what date did it finally reach the "
                       "customer?", vocab, table)
    assert got is not None and got.verified and "2021-03-08" in got.text and "2021-03-06" not in got.text


def test_several_delivery_days_and_nothing_saying_which_is_left_to_the_model(tenant) -> None:
    vocab, _, table = tenant
    assert answer_about("When was order 84978 delivered?", vocab, table) is None
    got = answer_about("When was order 84978 first delivered?", vocab, table)
    assert got is not None and "2021-03-06" in got.text


def test_a_refund_delay_is_the_hold_on_the_return_leg(tenant) -> None:
    vocab, _, table = tenant
    got = answer_about("Why did the refund for order 84976 take so long?", vocab, table)
    assert got is not None and got.verified
    assert "R09" in got.text and "new label" in got.text and "HOLD-SEC" not in got.text
    assert "2021-04-02" in got.text and "Kim Lee" in got.text  # the refund's day and the note that names it


def test_an_outbound_delay_is_the_orders_own_exception(tenant) -> None:
    vocab, _, table = tenant
    got = answer_about("Why was order 84978 delayed?", vocab, table)
    assert got is not None and "D17" in got.text and "label unreadable" in got.text


@pytest.mark.parametrize("question", ["Why are refunds slow this year?", "When were orders 84976 and 84978 "
                                      "delivered?", "Why was order 99999 delayed?", "Who signed for order 84976?"])
def test_no_single_known_subject_or_nothing_asked_gives_none(tenant, question: str) -> None:
    vocab, _, table = tenant
    assert answer_about(question, vocab, table) is None


class _Retriever:
    def __init__(self, vocab: Vocabulary, chunks: Sequence[Chunk]) -> None:
        self.vocabulary, self.chunks = vocab, list(chunks)

    def search(self, query: str, *, k: int, rerank: bool) -> list[Hit]:
        return [Hit(c.id, c.source, c.text, 1.0, dict(c.metadata)) for c in self.chunks[:k]]


class _Source:
    def __init__(self, retriever: _Retriever) -> None:
        self.retriever = retriever

    def live_version(self, tenant: str) -> str:
        return "v000001"

    def get(self, tenant: str, version: str) -> _Retriever:
        return self.retriever


def _pipeline(tenant, llm: CountingGenerator) -> Pipeline:
    vocab, chunks, _ = tenant
    return Pipeline(llm=llm, retrievers=_Source(_Retriever(vocab, chunks)), max_question_chars=300)


def test_the_pipeline_answers_what_the_records_settle_without_the_model(tenant) -> None:
    llm = CountingGenerator(answer="It shipped under ZZZ123 [E1].")
    answer = _pipeline(tenant, llm).ask("What was on order 84976, and which tracking number did it ship under?",
                                        "b", AskOptions(budget=1024, max_new_tokens=16))
    assert not llm.generations and answer.verified and not answer.fallback
    assert "ATP100200300" in answer.answer and "from the records" in answer.plan[0]
    labels = {e["label"] for e in answer.evidence}
    assert labels == {f"E{i + 1}" for i in range(len(answer.evidence))}
    assert all(f"[{label}]" in answer.answer for label in labels)  # every shown record is cited, by its own label


def test_an_unsettled_records_answer_stands_in_for_a_draft_that_fails_unverified(tenant) -> None:
    llm = CountingGenerator(answer="It was held for ZZZ123 [E1].")  # names nothing the evidence says
    answer = _pipeline(tenant, llm).ask("Why was order 84976 delayed?", "b", AskOptions(budget=1024,
                                                                                       max_new_tokens=16))
    assert llm.generations and not answer.verified and not answer.fallback
    assert all(c in answer.answer for c in ("HOLD-SEC", "D22", "R09"))  # every exception, none chosen
    assert "the draft was not verified" in answer.plan[0]


def test_a_described_event_is_identified_by_the_best_ranked_note_never_verified(tenant) -> None:
    vocab, _, _ = tenant
    ranked = [("guide#0", "Every return gets a prepaid label from the original carrier, reissued when void."),
              ("table#0", "order_ref,placed,site\n84977,2021-03-01,DE-LEJ"),
              ("notes#3", "09:28 Kim Lee: buyer on order 84976 says the phone came with its screen shattered; "
                          "opened RMA-2021-00412 for a return.")]
    question = "A customer's mobile arrived with a broken display. Which order was that, and which RMA did we open?"
    got = identify(question, ranked, vocab)
    assert got is not None and not got.verified and got.record_ids == ["notes#3"]
    assert "84976" in got.text and "RMA-2021-00412" in got.text and "not verified" in got.text
    assert identify("Which order was that, order 84976 or another?", ranked, vocab) is None  # an id is named
    assert identify("What was wrong with the phone?", ranked, vocab) is None  # no id asked for
