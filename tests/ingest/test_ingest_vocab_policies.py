"""Policy names with versions in a tenant's own shapes, and codes written as compounds (``EXC/HOLD-SEC``)."""

from __future__ import annotations

from pathlib import Path

from ingest.vocab_model import Term, Vocabulary, policy_version
from ingest.vocab_policies import PolicySightings
from ingest.vocabulary import learn_vocabulary
from tests.ingest.tenants import tenant_a, write


def test_title_case_policies_with_version_words(tmp_path: Path) -> None:
    write(tmp_path, "guides/handbook-r2.md", "# Returns Handbook, revision 2\n\nThe Returns Handbook, revision 2 "
          "takes effect on 2019-06-15.\n\nUnder revision 2 of the Returns Handbook, items come back in 45 days.\n")
    write(tmp_path, "guides/carrier-terms.md", "# Carrier Terms edition 4\n\nCarrier Terms edition 4 applies.\n")
    vocab = learn_vocabulary(tmp_path)
    policies = {t.canonical: t for t in vocab.terms.values() if t.kind == "policy"}
    assert {"Returns Handbook revision 2", "Returns Handbook", "Carrier Terms edition 4", "Carrier Terms"} <= set(
        policies)
    assert "The Returns Handbook" not in policies  # a leading sentence word is not part of the name
    line = "Under revision 2 of the Returns Handbook; see the returns handbook; Returns Handbook, revision 7."
    found = [(m.canonical, m.surface) for m in vocab.mentions(line) if m.kind == "policy"]
    assert found == [("Returns Handbook revision 2", "revision 2 of the Returns Handbook"),
                     ("Returns Handbook", "returns handbook"),
                     ("Returns Handbook, revision 7", "Returns Handbook, revision 7")]  # a version never seen


def test_code_policies_keep_their_canonical_and_gain_a_name(tmp_path: Path) -> None:
    vocab = learn_vocabulary(tenant_a(tmp_path))
    assert vocab.kind_of("POL-REFUND v3") == "policy" and vocab.kind_of("POL-REFUND") == "policy"
    assert [m.canonical for m in vocab.mentions("per POL-REFUND v3 and POL-REFUND v9") if m.kind == "policy"] == [
        "POL-REFUND v3", "POL-REFUND v9"]


def test_a_title_seen_once_or_a_lone_word_is_no_policy() -> None:
    seen = PolicySightings()
    seen.scan("Shipped via Atlas Post, version 2 of the label.", "a.log:1")
    seen.scan("Under edition 1, a return waits.", "b.md:3")
    vocab = Vocabulary()
    seen.add_to(vocab)
    assert not [t for t in vocab.terms.values() if t.kind == "policy"]


def test_policy_version_splits_canonicals() -> None:
    assert policy_version("POL-REFUND v3") == ("POL-REFUND", 3)
    assert policy_version("Returns Handbook revision 2") == ("Returns Handbook", 2)
    assert policy_version("Refund Standard, edition 12") == ("Refund Standard", 12)
    assert policy_version("Returns Handbook") is None


def test_compound_code_tokens_name_each_known_part() -> None:
    vocab = Vocabulary()
    vocab.add_term(Term("code", "HOLD-SEC"))
    vocab.add_term(Term("carrier", "ATP"))
    found = [(m.kind, m.canonical, m.start) for m in vocab.mentions("21:23|ATP|AP22XB|EXC/HOLD-SEC|ref 1")]
    assert found == [("carrier", "ATP", 6), ("code", "HOLD-SEC", 21)]
    assert vocab.mentions("see a/b and EXC/UNKNOWN") == []
