"""The vocabulary learned from two tenants of different vocabularies, its API, and bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ingest.vocabulary import Vocabulary, learn_vocabulary
from tests.ingest.tenants import tenant_a, tenant_b, write

SCAN_B = "2021-03-04T09:12:00Z parcel ATP100200301 held at customs @DE-LEJ [ref 84977] code D17"


def _kinds(vocab: Vocabulary, text: str) -> list[tuple[str, str]]:
    return [(m.kind, m.canonical) for m in vocab.mentions(text)]


@pytest.fixture(scope="module")
def vocab_a(tmp_path_factory: pytest.TempPathFactory) -> Vocabulary:
    return learn_vocabulary(tenant_a(tmp_path_factory.mktemp("a")))


@pytest.fixture(scope="module")
def vocab_b(tmp_path_factory: pytest.TempPathFactory) -> Vocabulary:
    return learn_vocabulary(tenant_b(tmp_path_factory.mktemp("b")))


def test_world_a_style_codes_ids_and_patterns(vocab_a: Vocabulary) -> None:
    assert vocab_a.problems == []
    line = "2021-04-09T08:00:00Z SKX SKX7731299999 #50001 LEJ1 EXCEPTION EX-41 SKU-HG-99999 under POL-REFUND v4"
    assert _kinds(vocab_a, line) == [
        ("carrier", "SKX"),
        ("tracking", "SKX7731299999"),  # unseen, by the learned pattern
        ("order", "#50001"),
        ("facility", "LEJ1"),
        ("code", "EX-41"),
        ("sku", "SKU-HG-99999"),
        ("policy", "POL-REFUND v4"),
    ]
    order = vocab_a.pattern("order")
    assert order is not None and order.search("about #77777.") and not order.search("77777")
    assert vocab_a.code_counts["EX-41"] == 3  # two scan files and a note
    rma = vocab_a.resolve("RT-2021-00001")
    assert rma is not None and rma.kind == "rma"  # the id of a record whose type is "return"
    assert "refunds/refunds_2021.jsonl:1" in rma.source


def test_world_b_reference_names_and_synonyms(vocab_b: Vocabulary) -> None:
    assert vocab_b.problems == []
    atlas = vocab_b.resolve("Atlas Post")
    assert atlas is not None and (atlas.kind, atlas.canonical) == ("carrier", "ATP")
    assert atlas.source == "reference/carriers.csv:2" and "atlas parcel" in atlas.synonyms
    assert vocab_b.resolve("ATLAS") == atlas  # names in any case
    assert vocab_b.resolve("atp") is None  # codes exactly
    leipzig = vocab_b.resolve("leipzig")
    assert leipzig is not None and (leipzig.kind, leipzig.canonical) == ("facility", "DE-LEJ")
    assert leipzig.source == "reference/sites.md:5"  # a markdown table whose folder says nothing


def test_world_b_ids_without_hash_and_codes(vocab_b: Vocabulary) -> None:
    assert _kinds(vocab_b, SCAN_B) == [
        ("tracking", "ATP100200301"),
        ("facility", "DE-LEJ"),
        ("order", "84977"),
        ("code", "D17"),
    ]
    # an unseen order number is an order after "ref"/"order", never as a bare number
    assert _kinds(vocab_b, "order 55555 weighed 12345 g, ref 55556") == [("order", "55555"), ("order", "55556")]
    assert _kinds(vocab_b, "EL-ZZZ-Q99 from Nordfracht Express, RMA-2021-00412") == [
        ("sku", "EL-ZZZ-Q99"),
        ("carrier", "NFX"),
        ("rma", "RMA-2021-00412"),
    ]
    hold = vocab_b.resolve("HOLD-SEC")
    assert hold is not None and hold.kind == "code" and "in 2 files" in hold.source
    found = vocab_b.resolve("[ref 84976]".strip("[]"))
    assert found is not None and (found.kind, found.canonical) == ("order", "84976")
    m = vocab_b.mentions("see [ref 84976] today")[0]
    assert (m.surface, m.start, m.end) == ("84976", 9, 14)


def test_json_round_trip_and_describe(vocab_b: Vocabulary) -> None:
    again = Vocabulary.from_json(vocab_b.to_json())
    assert again.mentions(SCAN_B) == vocab_b.mentions(SCAN_B)
    assert again.terms == vocab_b.terms and again.patterns == vocab_b.patterns
    rows = vocab_b.describe()
    assert {"kind": "carrier", "value": "ATP", "synonyms": "Atlas Post, atlas, atlas parcel",
            "source": "reference/carriers.csv:2"} in rows  # fmt: skip
    assert any(r["kind"] == "order" and r["value"].startswith("/") for r in rows)
    short = vocab_b.describe(max_terms_per_kind=1)
    assert any(r["kind"] == "order" and r["value"] == "... 3 more" for r in short)


PROFILE = """\
carrier:
  terms:
    ATP: [AP Express]
code:
  patterns:
    - '.*'
    - 'Q-\\d{3}'
    - '\\w+'
  terms:
    D17: customs document hold
"""


def test_profile_first_bad_patterns_reported_with_line(tmp_path: Path) -> None:
    vocab = learn_vocabulary(tenant_b(tmp_path, PROFILE))
    assert [p.split(": ", 1)[0] for p in vocab.problems] == ["vocabulary.yaml:6", "vocabulary.yaml:8"]
    assert "matches everything" in vocab.problems[0] and "too broad" in vocab.problems[1]
    atp = vocab.resolve("AP Express")
    assert atp is not None and atp.canonical == "ATP" and atp.source == "vocabulary.yaml:3"
    assert vocab.resolve("Atlas Post") == atp  # the reference's names merged into the profile's term
    d17 = vocab.resolve("customs document hold")
    assert d17 is not None and d17.canonical == "D17"
    assert _kinds(vocab, "flag Q-123 set") == [("code", "Q-123")]


def test_unparseable_profile_reported_rest_built(tmp_path: Path) -> None:
    vocab = learn_vocabulary(tenant_b(tmp_path, "carrier:\n  terms:\n    ATP: [Atlas\n  bad: : :\n"))
    assert len(vocab.problems) == 1 and re.match(r"vocabulary\.yaml:\d+: profile does not parse", vocab.problems[0])
    assert vocab.problems[0].startswith("vocabulary.yaml:4: ")
    assert vocab.resolve("Atlas Post") is not None and vocab.resolve("Leipzig") is not None


def test_reference_tables_that_disagree(tmp_path: Path) -> None:
    tenant_b(tmp_path)
    write(tmp_path, "zz_more/carrier_list.md", "| carrier | name |\n|---|---|\n| ATP | Atlas Cargo |\n| ZZP | Zed |\n")
    vocab = learn_vocabulary(tmp_path)
    assert len(vocab.problems) == 1
    problem = vocab.problems[0]
    assert problem.startswith("zz_more/carrier_list.md:3: ") and "reference/carriers.csv:2" in problem
    assert vocab.resolve("ATP").synonyms[0] == "Atlas Post"  # type: ignore[union-attr]
    assert vocab.resolve("Atlas Cargo") is None
    zed = vocab.resolve("Zed")
    assert zed is not None and (zed.kind, zed.canonical) == ("carrier", "ZZP")  # the rest of that table is kept


def test_new_modules_do_not_import_the_generator_vocabulary() -> None:
    root = Path(__file__).resolve().parents[2] / "ingest"
    for name in ("vocabulary", "vocab_model", "vocab_profile", "vocab_shapes", "vocab_tables", "logs", "links"):
        source = (root / f"{name}.py").read_text()
        assert "corpus.domain" not in source and "import domain" not in source, name


def test_a_word_code_that_always_follows_a_code_is_its_name(tmp_path: Path) -> None:
    line = "2021-03-0{d}T09:00:00Z SKX SKX77312900{d}2 EXCEPTION EX-12 ADDRESS_UNVERIFIED address could not be verified"
    pickups = "".join(f"2021-03-0{d}T08:00:00Z SKX SKX77312900{d}2 LEJ{d} PICKED_UP\n" for d in (1, 2, 3))
    write(tmp_path, "scans/a.log", "\n".join(line.format(d=d) for d in (1, 2)) + "\n" + pickups)
    write(tmp_path, "scans/b.log", line.format(d=3) + "\n" + pickups)
    vocab = learn_vocabulary(tmp_path)
    assert vocab.resolve("address unverified") == vocab.resolve("EX-12")
    assert vocab.resolve("EX-12").synonyms == ("ADDRESS_UNVERIFIED", "address unverified")  # type: ignore[union-attr]
    assert vocab.kind_of("ADDRESS_UNVERIFIED") is None
    assert vocab.kind_of("PICKED_UP") == "code"  # follows a different code each time: a code of its own
