"""Retrieval that follows a tenant's records: linked scans that share no word with the question, the policy version
in force at an order's dates (policies named in title case with edition numbers), the rule on the hold an order's
records show, and "the same pattern in another period". A small hand-written tenant unlike both generated worlds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.tokenizer import load_tokenizer
from ingest.chunker import chunk_file
from ingest.loaders import discover, load_file
from ingest.records import Chunk
from ingest.vocabulary import learn_vocabulary
from retrieval.index import build_version
from retrieval.keyword import KeywordIndex
from retrieval.patterns import pattern_filters, with_linked
from retrieval.policies import PolicyVersion, in_force
from retrieval.query import date_range, date_spans
from retrieval.rerank import KeyMatchReranker
from retrieval.retriever import Retriever
from tests.helpers.fakes import HashEmbedder
from tests.ingest.tenants import write

TERMS = (
    "# Care Terms, edition {v}\n\nCare Terms, edition {v} takes effect on {eff}.\n\n## Timing\n\nUnder edition {v} "
    "of the Care Terms, a refund is due {days} days after receipt.\n\n## Holds\n\nUnder edition {v}, a return "
    "under security review (HOLD-SEC) waits {hold} more days.\n"
)


def tenant_c(root: Path) -> Path:
    write(root, "reference/carriers.csv", "code,name\nKWX,Kestrel Express\nLMP,Lumen Parcel\n")
    write(root, "reference/event_codes.csv", "code,kind,meaning\nDEPARTED,event,left the site\n"
          "DELIVERED,event,handed over\nRETURN_RECEIVED,event,return back at the site\n"
          "HOLD-SEC,exception,sent to security review\nHOLD-DMG,exception,held for a damage check\n")
    orders = ["order_ref,placed_at,site,ship_via,tracking_no,item",
              "710001,2020-03-02 10:00,XY-AAA,KWX,KW100000001,EL-CAM-A11",
              "710002,2020-03-03 11:00,XY-BBB,LMP,LM200000002,HM-LMP-B12",
              "720001,2022-05-10 09:00,XY-AAA,KWX,KW100000009,EL-PHN-B22",
              "720002,2022-05-11 09:00,XY-BBB,LMP,LM200000010,HM-LMP-C13"]
    write(root, "orders/orders.csv", "\n".join(orders) + "\n")
    rmas = [("RMA-2020-0001", "2020-03-20", "710001", "EL-CAM-A11 (camera)", "KW900000001"),
            ("RMA-2022-0007", "2022-05-18", "720001", "EL-PHN-B22 (phone)", "KW900000007"),
            ("RMA-2022-0008", "2022-05-19", "720002", "HM-LMP-C13 (lamp)", "LM900000008")]
    records = [{"id": i, "type": "rma", "timestamp": f"{d}T10:00:00",
                "text": f"Return authorised on {d} for order {o}: {what}.",
                "metadata": {"order_ref": o, "return_tracking": t}} for i, d, o, what, t in rmas]
    write(root, "returns/rma.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    write(root, "feeds/kwx.log", "\n".join([
        "2020-03-04 08:00|XY-AAA|KWX|KW100000001|DEPARTED|ref 710001",
        "2020-03-06 09:00|CONSIGNEE|KWX|KW100000001|DELIVERED|ref 710001",
        "2020-03-22 10:00|XY-AAA|KWX|KW900000001|EXC/HOLD-SEC|ref RMA-2020-0001",
        "2020-04-02 10:00|XY-AAA|KWX|KW900000001|RETURN_RECEIVED|ref RMA-2020-0001",
        "2022-05-20 10:00|XY-AAA|KWX|KW900000007|EXC/HOLD-SEC|ref RMA-2022-0007",
        "2022-05-21 10:00|XY-BBB|LMP|LM900000008|EXC/HOLD-DMG|ref RMA-2022-0008"]) + "\n")
    routine = [f"2021-0{m}-1{d} 08:00|XY-BBB|LMP|LM3000000{m}{d}|{ev}|ref 7300{m}{d}"
               for m in range(1, 7) for d in range(3) for ev in ("DEPARTED", "DELIVERED", "RETURN_RECEIVED")]
    write(root, "feeds/lmp.log", "\n".join(routine) + "\n")  # most scans are routine: exceptions are rare
    write(root, "ledger/refunds.csv", "txn,posted_on,order_ref,rma,amount_eur,memo\n"
          "RF1,2020-04-20,710001,RMA-2020-0001,899.00,refund issued\nRF2,2022-06-09,720001,RMA-2022-0007,650.00,"
          "refund issued\nRF3,2022-05-30,720002,RMA-2022-0008,35.00,refund issued\n")
    for v, eff, days, hold in ((1, "2019-01-01", 6, 12), (2, "2021-06-01", 4, 9)):
        write(root, f"guides/care-terms-e{v}.md", TERMS.format(v=v, eff=eff, days=days, hold=hold))
    return root


@pytest.fixture(scope="module")
def ret(tmp_path_factory: pytest.TempPathFactory) -> Retriever:
    root = tenant_c(tmp_path_factory.mktemp("c"))
    files, _ = discover(root)
    vocab = learn_vocabulary(root)
    count = load_tokenizer().count
    chunks = [c for f in files for c in chunk_file(load_file(f, root), count, vocab=vocab)[0]]
    emb = HashEmbedder()
    vdir = build_version(root.parent / "i", "v000001", chunks, emb.encode([c.text for c in chunks]), vocab)
    return Retriever.load(vdir, embedder=emb, reranker=KeyMatchReranker())


def _rank(hits: list, needle: str) -> int:
    return next((i for i, h in enumerate(hits) if needle in h.text), 99)


def test_policy_versions_learned_from_title_case_names(ret: Retriever) -> None:
    versions = ret.policy_index.versions["Care Terms"]
    assert [(v.version, v.effective) for v in versions] == [(1, "2019-01-01"), (2, "2021-06-01")]
    assert all(len(v.rows) >= 3 for v in versions)  # every section of the version's own file


def test_why_refund_waited_gets_the_held_scan_and_the_hold_rule_in_force(ret: Retriever) -> None:
    hits = ret.search("Why did the refund for order 710001 take so long?", k=12, rerank=False)
    assert _rank(hits, "EXC/HOLD-SEC|ref RMA-2020-0001") < 12  # names only the return's tracking number and RMA
    assert _rank(hits, "Under edition 1, a return under security review") < 6
    assert _rank(hits, "Under edition 2, a return") > _rank(hits, "Under edition 1, a return")


def test_policy_question_about_an_order_gets_the_version_in_force_then(ret: Retriever) -> None:
    hits = ret.search("Which edition of the Care Terms governed the refund on order 720001?", k=8, rerank=False)
    ed1 = [i for i, h in enumerate(hits) if h.text.startswith("# Care Terms, edition 1")]
    ed2 = [i for i, h in enumerate(hits) if h.text.startswith("# Care Terms, edition 2")]
    assert len(ed2) >= 3 and (not ed1 or min(ed1) > max(ed2))
    assert _rank(hits, "Return authorised on 2022-05-18 for order 720001") < 8


def test_same_pattern_in_another_period(ret: Retriever) -> None:
    q = "Why was the refund for order 710001 delayed in April 2020, and did the same happen to other returns in 2022?"
    hits = ret.search(q, k=12, rerank=False)
    assert _rank(hits, "EXC/HOLD-SEC|ref RMA-2022-0007") < 12  # same code, same carrier, the other period
    assert _rank(hits, "Return authorised on 2022-05-18 for order 720001") < 12  # and the return it belongs to


def test_keyword_rows_that_only_pass_the_filter(tmp_path: Path) -> None:
    chunks = [Chunk("d#0", "d", "d:0-0", "scan KW1 held", "0", 1, {"tracking_numbers": ["KW1"]}),
              Chunk("d#1", "d", "d:1-1", "refund late for the order", "1", 1, {"tracking_numbers": ["KW1"]}),
              Chunk("d#2", "d", "d:2-2", "refund late", "2", 1, {"tracking_numbers": ["KW2"]})]
    idx = KeywordIndex.build(tmp_path / "k", chunks)
    assert [r for r, _ in idx.search("refund late", 5, {"tracking": "KW1"})] == [1]
    assert [r for r, _ in idx.search("refund late", 5, {"tracking": "KW1"}, require_text=False)] == [1, 0]


def test_date_spans_keep_each_period() -> None:
    q = "delayed in March 2021, and the same in 2023?"
    assert date_spans(q) == [("2021-03-01", "2021-03-31"), ("2023-01-01", "2023-12-31")]
    assert date_range(q) == ("2021-03-01", "2021-03-31")
    assert date_spans("in 2021 and 2021-05-02") == [("2021-05-02", "2021-05-02")]


def test_in_force_over_a_span() -> None:
    dates = ((1, "2018-01-01"), (2, "2020-01-01"), (3, "2022-01-01"))
    vs = [PolicyVersion("P", n, f"P v{n}", eff, ()) for n, eff in dates]
    assert [v.version for v in in_force(vs, "2019-05-01", "2019-06-01")] == [1]
    assert [v.version for v in in_force(vs, "2019-12-01", "2022-01-01")] == [1, 2, 3]
    assert in_force(vs, "2017-01-01", "2017-02-01") == []


def test_pattern_filters_and_groups() -> None:
    def c(i: int, ts: str, codes: list[str], carriers: list[str]) -> Chunk:
        return Chunk(f"d#{i}", "d", "d:1-1", "x", "0", 1, {"timestamp": ts, "exception_codes": codes,
                                                          "carriers": carriers})
    chunks = [c(0, "2021-03-02", ["DEPARTED"], ["KWX"]), c(1, "2021-03-05", ["HOLD-SEC", "DEPARTED"], ["KWX"])]
    counts = {"DEPARTED": 500, "HOLD-SEC": 6}
    spans = [("2021-03-01", "2021-03-31"), ("2023-01-01", "2023-12-31")]
    assert pattern_filters("did the same happen in 2023?", spans, [0, 1], chunks, counts) == [
        {"exception_codes": ["HOLD-SEC"], "carriers": ["KWX"], "date_from": "2023-01-01", "date_to": "2023-12-31"}]
    assert pattern_filters("what happened in 2023?", spans, [0, 1], chunks, counts) == []  # no comparison asked
    links = {5: [6, 7], 8: [9, 5]}
    assert with_linked([5, 8], lambda r: links[r]) == [[(5, 1.0), (8, 0.5)], [(6, 1.0), (9, 0.5)], [(7, 1.0)]]
