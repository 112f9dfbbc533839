from __future__ import annotations

from packing.claims import ClaimIndex, cited_labels, extract_claims, identifiers, relabel
from tests.helpers.packing import HASH_ORDERS


def _kv(text: str, entities=()):
    return [(c.kind, c.value) for c in extract_claims(text, entities)]


def test_packing_claims_extracts_each_kind():
    text = (
        "Order #123456 (SKU-EL-4821) was refunded $1,899.00 on March 4, 2021 after Skyline Express logged "
        "EX-41 on 2021-03-02T10:15:00Z; a second refund of 25.50 USD followed in April 2021."
    )
    assert _kv(text, HASH_ORDERS) == [
        ("order_id", "#123456"),
        ("sku", "SKU-EL-4821"),
        ("amount", "1899.00"),
        ("date", "2021-03-04"),
        ("entity", "skyline express"),
        ("code", "EX-41"),
        ("date", "2021-03-02"),
        ("amount", "25.50"),
        ("month", "2021-04"),
    ]


def test_packing_claims_normalise_formats():
    same = ["2021-03-04", "March 4, 2021", "4 March 2021", "Mar 4th 2021", "4th of March, 2021"]
    assert {v for t in same for _, v in _kv(t)} == {"2021-03-04"}
    assert {v for t in ["$1,899.00", "1899.00 USD", "USD 1,899", "$1899"] for _, v in _kv(t)} == {"1899.00"}
    assert _kv("ex-12 and sku-ap-0042") == [("id", "EX-12"), ("id", "SKU-AP-0042")]  # no lexicon: plain ids
    assert _kv("ex-12 and sku-ap-0042", HASH_ORDERS) == [("code", "ex-12"), ("sku", "sku-ap-0042")]
    assert _kv("#12345678 is too long for an order", HASH_ORDERS) == [("id", "#12345678")]
    assert _kv("in 2021, 14 days, v3 and E1 [E2] are not ids") == [("duration", "14")]  # a duration, no id
    assert _kv("HOLD-SEC at US-PHX, parcel AP387783373XB, order 4029988") == [
        ("id", "HOLD-SEC"), ("id", "US-PHX"), ("id", "AP387783373XB"), ("id", "4029988")]
    assert _kv("2021-13-40 is not a date") == []


def test_packing_claims_month_matches_any_date_in_it():
    idx = ClaimIndex(["Scanned on 2021-03-17 at the hub."])
    (month,) = extract_claims("in March 2021")
    (other,) = extract_claims("in April 2021")
    assert idx.supports(month) and not idx.supports(other)


def test_packing_claims_citations_and_identifiers():
    ans = "Refunded [E2]; delayed by customs [E1, E3] and again [E2]. Not a label: [note]."
    assert cited_labels(ans) == ["E2", "E1", "E3"]
    assert relabel(ans, {"E1": "E7", "E2": "E8"}) == (
        "Refunded [E8]; delayed by customs [E7, E3] and again [E8]. Not a label: [note]."
    )
    assert identifiers(["Why is order #222222 held with EX-91?", "on 2021-03-04"]) == {"#222222", "EX-91"}


def test_bare_csv_amount_supports_a_dollar_claim_but_not_another_amount() -> None:
    from packing.claims import ClaimIndex

    row = "#30495,2016-04-08,C-15615,MEM1,BLR,BLR4708136406,SKU-SP-94263,sports,2,408.99,2016-04-09"
    idx = ClaimIndex([row])
    right = [c for c in extract_claims("Declared value: $408.99 [E1].") if c.kind == "amount"]
    wrong = [c for c in extract_claims("Declared value: $409.99 [E1].") if c.kind == "amount"]
    assert right and idx.supports(right[0])
    assert wrong and not idx.supports(wrong[0])


def test_packing_claims_read_an_entity_code_as_its_name():
    entities = ["Skyline Express|SKX", "TransAtlas Freight|TAX"]
    assert _kv("SKX scanned it; Skyline Express again; tax paid", entities) == [
        ("entity", "skyline express"), ("entity", "skyline express")]
