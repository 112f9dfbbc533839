from __future__ import annotations

import pytest

from packing import ORDERS, Evidence, get_order, pack
from packing.order import near_duplicates, order_ours, order_ours_chronological, order_reorder
from tests.helpers.packing import blocks, make_evidence


def _ranks(p) -> list[int]:
    return [pe.rank for pe in p.evidence]


@pytest.mark.parametrize("n", [1, 2, 5, 8, 13])
def test_packing_ours_places_best_at_both_ends(tok, n):
    p = pack("What happened to the parcel?", make_evidence(n, seed=n), tok, 100_000)
    ranks = _ranks(p)
    assert ranks[0] == 1
    if n >= 2:
        assert ranks[-1] == 2
    if n >= 4:
        assert ranks[1] == 3 and ranks[-2] == 4
    # distance from the nearer end never decreases as rank worsens: the weakest sit in the middle
    depth = {r: min(i, n - 1 - i) for i, r in enumerate(ranks)}
    assert all(depth[r] <= depth[r + 1] for r in range(1, n))
    # labels follow prompt order and map back to ids
    assert [lab for lab, _ in blocks(p.prompt)] == [f"E{i + 1}" for i in range(n)]
    assert p.labels == {pe.label: pe.id for pe in p.evidence}


@pytest.mark.parametrize("n", range(0, 13))
def test_packing_reorder_equals_langchain(n):
    lc = pytest.importorskip("langchain_community.document_transformers")
    from langchain_core.documents import Document

    docs = [Document(page_content=f"doc {i}") for i in range(n)]
    expected = [d.page_content for d in lc.LongContextReorder().transform_documents(docs)]
    assert [d.page_content for d in order_reorder(docs)] == expected


def test_packing_retrieval_order_and_selector(tok):
    p = pack("What happened?", make_evidence(7), tok, 100_000, order="retrieval")
    assert _ranks(p) == list(range(1, 8))
    assert set(ORDERS) == {"retrieval", "reorder", "ours"}
    with pytest.raises(ValueError) as err:
        get_order("middle")
    assert all(k in str(err.value) for k in ORDERS)


def test_packing_question_and_constraints_at_both_ends(tok):
    q = "When was order #200002 refunded?"
    ours = pack(q, make_evidence(5), tok, 100_000, constraints=["order #200002", "2021-03-01 to 2021-03-31"])
    user = ours.prompt.split("<|im_start|>user\n")[1]
    assert user.startswith("Question: " + q)
    assert user.count(q) == 2 and user.count("Constraints: order #200002; 2021-03-01 to 2021-03-31") == 2
    assert user.index("[E5]") < user.rindex(q)
    base = pack(q, make_evidence(5), tok, 100_000, order="retrieval")
    assert base.prompt.count(q) == 1 and base.prompt.index("[E5]") < base.prompt.index(q)


def test_packing_promotes_records_naming_the_question_id(tok):
    ev = make_evidence(9)  # id{i} names order #20000{i}
    q = "What happened to order #200006?"
    ours = pack(q, ev, tok, 100_000)
    assert ours.evidence[0].id == "id6"
    assert pack(q, ev, tok, 100_000, promote=False).evidence[0].id == "id0"
    assert [pe.id for pe in pack(q, ev, tok, 100_000, order="retrieval").evidence][6] == "id6"
    # under a tight budget the promoted record survives
    assert "id6" not in pack(q, ev, tok, 260).dropped


def test_packing_near_duplicates_keep_the_better_ranked(tok):
    text = (
        "Order #400001 left the Leipzig hub on 2021-03-04 with Skyline Express after a weight audit, "
        "two cartons, signed by the night shift lead, label reprinted once, seal intact, no damage noted, "
        "customer notified by email and SMS, expected delivery within three business days at the latest."
    )
    almost = text.replace("two cartons", "2 cartons")
    other = "Order #400002 was refunded on 2021-03-09 because the parcel was damaged."
    ev = [
        Evidence("a", "note", other, 0.9, 1),
        Evidence("b", "note", text, 0.8, 2),
        Evidence("c", "note", almost, 0.7, 3),
    ]
    p = pack("What happened to order #400001?", ev, tok, 100_000, promote=False)
    assert p.duplicates == {"c": "b"}
    assert [pe.id for pe in p.evidence] == ["a", "b"]
    assert near_duplicates([text, other]) == {}
    assert pack("q?", ev, tok, 100_000, dedupe_threshold=1.1).duplicates == {}


def test_packing_chronological_tiers():
    ev = [Evidence(f"r{i}", "s", "t", 1.0, i + 1, f"2021-01-{30 - i:02d}") for i in range(8)]
    placed = order_ours_chronological(ev, tier_size=4)
    tier1, tier2 = {"r0", "r1", "r2", "r3"}, {"r4", "r5", "r6", "r7"}
    ids = [e.id for e in placed]
    assert set(ids[:2] + ids[-2:]) == tier1 and set(ids[2:6]) == tier2  # tier 1 holds the ends
    for front, back in [(placed[:2], placed[-2:]), (placed[2:4], placed[4:6])]:
        ts = [e.timestamp for e in front + back]
        assert ts == sorted(ts)  # each tier reads forward in time from front to back
    assert order_ours(list(range(1, 8))) == [1, 3, 5, 7, 6, 4, 2]
    with pytest.raises(ValueError):
        order_ours_chronological(ev, tier_size=1)


def test_packing_chronological_option_in_pack(tok):
    ev = make_evidence(10, seed=5)
    p = pack("What happened?", ev, tok, 100_000, chronological_tiers=True)
    assert {pe.rank for pe in p.evidence[:2] + p.evidence[-2:]} == {1, 2, 3, 4}


def test_packing_dedupe_keeps_templated_records_with_different_facts():
    a = "Order #500001 scanned at LEJ1 on 2021-03-01 by Skyline Express, parcel in good condition."
    b = a.replace("#500001", "#500002")
    c = a.replace("2021-03-01", "2021-03-02")
    assert near_duplicates([a, b, c, a]) == {3: 0}
