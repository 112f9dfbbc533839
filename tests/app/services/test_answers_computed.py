"""Lists and counts from the records, on a tenant whose ids, codes and formats are not the generator's: scans
that name only a tracking number count for the order that shipped it; the filter is shown; names the vocabulary
does not know make the answer unverified; "the same ..." takes its keys from the first answer."""

from __future__ import annotations

import pytest

from app.services.answers.computed import answer_from_records, carried_over
from ingest.records import Chunk
from ingest.vocab_model import Term, Vocabulary
from packing.facts import FactTable
from packing.plan import plan
from tests.helpers.tenant_records import read_tenant
from tests.ingest.tenants import tenant_b


@pytest.fixture(scope="module")
def tenant(tmp_path_factory: pytest.TempPathFactory) -> tuple[Vocabulary, list[Chunk], FactTable]:
    return read_tenant(tenant_b(tmp_path_factory.mktemp("b")))


def test_a_code_seen_only_by_tracking_number_lists_its_order(tenant) -> None:
    vocab, _, table = tenant
    (part,) = plan("Which orders recorded code HOLD-SEC in 2021?")
    got = answer_from_records(part, vocab, table, {})
    assert got is not None and got.verified
    assert "84976 [E1]" in got.text and "84979" not in got.text and "code HOLD-SEC" in got.filter
    assert got.text.startswith("1 order ")


def test_a_count_of_shipments_is_the_records_count(tenant) -> None:
    vocab, _, table = tenant
    (part,) = plan("How many shipments were delayed with code D17 in 2021?")
    got = answer_from_records(part, vocab, table, {})
    assert got is not None and got.text.startswith("3 shipments ")  # two in the feed's format, one in the notes'
    assert all(t in got.text for t in ("NFX500600700", "ATP100200301", "NFX500600701"))


def test_nothing_matching_is_said_plainly(tenant) -> None:
    vocab, _, table = tenant
    (part,) = plan("Which orders recorded code HOLD-SEC in 2024?")
    got = answer_from_records(part, vocab, table, {})
    assert got is not None and got.text.startswith("Not in the data") and got.record_ids == []


def test_an_unknown_name_is_not_verified(tenant) -> None:
    vocab, _, table = tenant
    (part,) = plan("Which orders shipped with Zephyr Freight recorded code HOLD-SEC in 2021?")
    got = answer_from_records(part, vocab, table, {})
    assert got is not None and not got.verified and "Zephyr Freight" in got.text


def test_the_same_pattern_comes_from_the_first_answer(tenant) -> None:
    vocab, _, table = tenant
    first, second = plan("Why was order 84976 held in March 2021, and did the same carrier pattern appear "
                         "for other orders in 2021?")
    carried = carried_over(first.text, "It was held for HOLD-SEC [E1].", vocab, table)
    assert carried["code"] == {"HOLD-SEC"} and carried["carrier"] == {"ATP"}  # the carrier from order 84976's row
    got = answer_from_records(second, vocab, table, carried, first_label=4)
    assert got is not None and got.text.startswith("Yes") and "84976 [E4]" in got.text
    assert answer_from_records(second, vocab, table, {}) is None  # nothing to be "the same" as


def test_a_code_inside_a_slashed_token_and_a_month_name_date_count(tmp_path) -> None:
    """``EXC/W04`` names the code W04; ``Nov 3 2018`` is a date; shipments are listed with their orders."""
    from tests.ingest.tenants import write

    root = tenant_b(tmp_path)
    write(root, "scans/more.log", "Nov 3 2018 10:00 @DE-LEJ parcel ATP100200300 EXC/W04 (Atlas Post) [ref 84976]\n")
    write(root, "reference/codes.csv", "code,meaning\nW04,weather delay at the gateway\nD17,label unreadable\n")
    vocab, _, table = read_tenant(root)
    (part,) = plan("How many Atlas Post shipments were held up by bad weather in November 2018?")
    got = answer_from_records(part, vocab, table, {})
    assert got is not None and "code W04" in got.filter and "2018-11-01" in got.filter
    assert got.text.startswith("1 shipment ") and "ATP100200300 (order 84976)" in got.text
    # a near-synonym reads as the code's own word, and "stuck" is a delay like "held": nothing left unexpressed
    (part,) = plan("Which Atlas Post shipments were stuck because of a storm in November 2018?")
    got = answer_from_records(part, vocab, table, {})
    assert got is not None and got.verified and "code W04" in got.filter


def test_an_answer_without_a_code_carries_the_subjects_rarest_code() -> None:
    """"The same pattern" after an answer that names no code: the subject order's own exception (the code fewest
    orders carry), not a status every order has."""
    from packing.facts import Event

    def ev(order: str, code: str) -> Event:
        return Event(f"{order}-{code}", "scans.log", f"{order} {code}", "2021-03-02",
                     {"order": {order}, "code": {code}, "carrier": {"ATP"}})

    table = FactTable([ev(o, "DEPARTED") for o in ("1", "2", "3")] + [ev("1", "HOLD-SEC"), ev("2", "D17")])
    vocab = Vocabulary()
    for kind, value in (("order", "1"), ("order", "2"), ("order", "3"), ("code", "DEPARTED"), ("code", "HOLD-SEC"),
                        ("code", "D17"), ("carrier", "ATP")):
        vocab.add_term(Term(kind, value))
    carried = carried_over("Why was order 1 late?", "It was held for review [E1].", vocab, table)
    assert carried["code"] == {"HOLD-SEC"} and carried["carrier"] == {"ATP"}


def test_which_two_of_the_named_orders_share_a_problem() -> None:
    """The named orders grouped by their exception codes (not a status every order has), each one cited."""
    from packing.facts import Event

    def ev(order: str, code: str, day: str) -> Event:
        return Event(f"{order}-{code}", "feed.log", f"{day} {order} {code}", day, {"order": {order}, "code": {code}})

    orders = [str(i) for i in range(1, 13)]
    events = [ev(o, "DELIVERED", "2021-03-09") for o in orders]
    events += [ev("1", "D17", "2021-03-02"), ev("2", "D17", "2021-03-03"), ev("3", "C31", "2021-03-04")]
    vocab = Vocabulary()
    for value in orders:
        vocab.add_term(Term("order", value))
    vocab.add_term(Term("code", "D17", ("address label unreadable",)))
    for code in ("C31", "DELIVERED"):
        vocab.add_term(Term("code", code))
    (part,) = plan("Orders 1, 2 and 3 were all late. Which two were held up by the same problem, and what was it?")
    got = answer_from_records(part, vocab, FactTable(events), {})
    assert got is not None and got.verified
    assert got.text.startswith("Orders 1 [E1] and 2 [E2] were both held up by D17 (address label unreadable)")
    assert "order 3 [E3] had C31 instead" in got.text and "DELIVERED" not in got.text


def test_a_description_the_filter_cannot_read_is_not_a_list(tenant) -> None:
    """"Which order was that?" after a description: only "broken" reads as a code; the rest is left to retrieval."""
    vocab, _, table = tenant
    (part,) = plan("A customer's coffee mill showed up with the bean container broken. Which order was that?")
    assert part.kind == "list" and answer_from_records(part, vocab, table, {}) is None
