"""Which version of a policy applied, from the policy's own documents, on a tenant whose policy names are not the
generator's: the version in force on the question's day or when the order's return was opened, the clause that
answers the rest, both versions (unverified) when the days span a change, and None when no one policy is meant."""

from __future__ import annotations

import pytest

from app.services.answers.policy import answer_policy
from ingest.records import Chunk
from ingest.vocab_model import Vocabulary
from packing.facts import FactTable
from retrieval.policies import PolicyVersion, policy_versions
from tests.helpers.tenant_records import read_tenant
from tests.ingest.tenants import tenant_b, write

_DOC = ("# {name}, edition {n}\n\n{name}, edition {n} takes effect on {day}.\n\n## Claims\n\n"
        "Under edition {n} of the {name}, a claim must be filed within {days} days of delivery.\n\n## Packaging\n\n"
        "Keep the original packaging until the claim is settled by the carrier.\n")


@pytest.fixture(scope="module")
def tenant(tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[Vocabulary, list[Chunk], FactTable, dict[str, list[PolicyVersion]]]:
    root = tenant_b(tmp_path_factory.mktemp("b"))
    for n, day, days in ((1, "2020-01-01", 7), (2, "2021-06-01", 10)):
        write(root, f"rules/damage-rulebook-ed{n}.md", _DOC.format(name="Damage Rulebook", n=n, day=day, days=days))
        write(root, f"rules/courier-code-ed{n}.md", _DOC.format(name="Courier Code", n=n, day=day, days=days + 20))
    vocab, chunks, table = read_tenant(root)
    return vocab, chunks, table, policy_versions(chunks, vocab)


def _ask(tenant, question: str):
    vocab, chunks, table, versions = tenant
    return answer_policy(question, vocab, table, versions, chunks)


def test_the_version_in_force_on_the_day_and_its_clause(tenant) -> None:
    got = _ask(tenant, "Which edition of the Damage Rulebook was in force on 2021-07-02, and how many days did a "
                       "customer have to file a claim?")
    assert got is not None and got.verified
    assert "Damage Rulebook edition 2" in got.text and "within 10 days" in got.text and "edition 1" not in got.text


def test_the_version_in_force_when_the_orders_return_was_opened(tenant) -> None:
    got = _ask(tenant, "Which edition of the Damage Rulebook applied to the return on order 84976?")
    assert got is not None and got.verified  # the return was opened on 2021-03-20: edition 1 still held
    assert "Damage Rulebook edition 1" in got.text and "RMA-2021-00412" in got.text


def test_a_policy_named_by_a_word_of_its_name(tenant) -> None:
    got = _ask(tenant, "Which version of the courier policy was in effect on 2020-05-01?")
    assert got is not None and got.verified and "Courier Code edition 1" in got.text


def test_days_spanning_a_change_give_both_versions_unverified(tenant) -> None:
    got = _ask(tenant, "Which edition of the Damage Rulebook was in force in 2021?")
    assert got is not None and not got.verified
    assert "edition 1" in got.text and "edition 2" in got.text


@pytest.mark.parametrize("question", ["Which version of the policy was in effect on 2020-05-01?",
                                      "Which edition of the Damage Rulebook applied?",
                                      "What did order 84976 contain?"])
def test_no_one_policy_or_no_day_gives_none(tenant, question: str) -> None:
    assert _ask(tenant, question) is None
