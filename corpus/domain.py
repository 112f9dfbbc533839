"""World a's vocabulary: its fulfillment centers, carriers, exception codes and SKU categories.

The generator's constants, known only to corpus/ (and to eval/, which scores answers against them): no product
package reads them; ingest learns each tenant's vocabulary from its own data. Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class FulfillmentCenter:
    code: str
    city: str
    country: str
    continent: str
    synonyms: tuple[str, ...]


@dataclass(frozen=True)
class Carrier:
    code: str
    name: str
    synonyms: tuple[str, ...]


@dataclass(frozen=True)
class ExceptionCode:
    code: str
    name: str
    description: str
    routine: bool  # routine codes appear everywhere as filler; rare ones carry planted facts


FULFILLMENT_CENTERS: tuple[FulfillmentCenter, ...] = (
    FulfillmentCenter("LEJ1", "Leipzig", "Germany", "Europe", ("leipzig warehouse", "leipzig", "leipzig fc")),
    FulfillmentCenter("MAD2", "Madrid", "Spain", "Europe", ("madrid warehouse", "madrid", "madrid fc")),
    FulfillmentCenter("DUB1", "Dublin", "Ireland", "Europe", ("dublin warehouse", "dublin", "dublin fc")),
    FulfillmentCenter("RNO1", "Reno", "United States", "North America", ("reno warehouse", "reno", "nevada")),
    FulfillmentCenter("MEM1", "Memphis", "United States", "North America", ("memphis warehouse", "memphis")),
    FulfillmentCenter("YYZ1", "Toronto", "Canada", "North America", ("toronto warehouse", "toronto")),
    FulfillmentCenter("SIN1", "Singapore", "Singapore", "Asia", ("singapore warehouse", "singapore")),
    FulfillmentCenter("NRT1", "Tokyo", "Japan", "Asia", ("tokyo warehouse", "tokyo", "narita")),
)

CARRIERS: tuple[Carrier, ...] = (
    Carrier("SKX", "Skyline Express", ("skyline", "skyline express")),
    Carrier("MRP", "Meridian Parcel", ("meridian", "meridian parcel")),
    Carrier("TAX", "TransAtlas Freight", ("transatlas", "trans atlas")),
    Carrier("KST", "Kestrel Logistics", ("kestrel",)),
    Carrier("BLR", "BlueRoute", ("blueroute", "blue route")),
    Carrier("PCC", "Pacifica Courier", ("pacifica",)),
)

EXCEPTION_CODES: tuple[ExceptionCode, ...] = (
    ExceptionCode("EX-12", "ADDRESS_UNVERIFIED", "address could not be verified", True),
    ExceptionCode("EX-21", "RECIPIENT_ABSENT", "recipient not available, second attempt scheduled", True),
    ExceptionCode("EX-27", "WEATHER_DELAY", "weather delay at hub", True),
    ExceptionCode("EX-33", "SORT_MISROUTE", "misrouted at sort center, rerouted", True),
    ExceptionCode("EX-41", "CUSTOMS_HOLD", "held by customs pending documents", True),
    ExceptionCode("EX-58", "DAMAGED_IN_TRANSIT", "package damaged in transit", True),
    ExceptionCode("EX-77", "SEAL_BREACH_REVIEW", "tamper seal breach, held for security review", False),
    ExceptionCode("EX-83", "SCAN_GAP_LOST", "no scan for 96 hours, traced as lost", False),
    ExceptionCode("EX-91", "LITHIUM_HAZMAT_HOLD", "lithium battery hazmat hold at linehaul", False),
    ExceptionCode("EX-94", "WEIGHT_MISMATCH_AUDIT", "weight mismatch, audit before release", False),
)

# SKU category code -> (category name, declared value range in USD)
SKU_CATEGORIES: dict[str, tuple[str, tuple[int, int]]] = {
    "EL": ("electronics", (80, 2400)),
    "AP": ("apparel", (12, 180)),
    "HG": ("home and garden", (15, 600)),
    "TY": ("toys", (8, 150)),
    "BK": ("books", (6, 60)),
    "SP": ("sports", (20, 900)),
    "BE": ("beauty", (5, 120)),
}

HIGH_VALUE_USD = 1000  # "high-value" as the policies define it

DOC_TYPES = ("manifest", "scan", "note", "refund", "return", "policy")

# Regular expressions shared by the generator's tests, the metadata extractor and query analysis.
ORDER_ID_RE = re.compile(r"#(\d{5,7})\b")
SKU_RE = re.compile(r"\bSKU-([A-Z]{2})-(\d{4,6})\b")
EXCEPTION_RE = re.compile(r"\bEX-\d{2}\b")
FC_RE = re.compile(r"\b(" + "|".join(fc.code for fc in FULFILLMENT_CENTERS) + r")\b")
DATE_RE = re.compile(r"\b(20\d{2})-(\d{2})-(\d{2})\b")
POLICY_RE = re.compile(r"\bPOL-[A-Z]+ v\d+\b")


def fc_by_code(code: str) -> FulfillmentCenter:
    for fc in FULFILLMENT_CENTERS:
        if fc.code == code:
            return fc
    raise KeyError(f"unknown fulfillment center {code!r}; known: {[f.code for f in FULFILLMENT_CENTERS]}")


def carrier_by_code(code: str) -> Carrier:
    for c in CARRIERS:
        if c.code == code:
            return c
    raise KeyError(f"unknown carrier {code!r}; known: {[c.code for c in CARRIERS]}")


def exception_by_code(code: str) -> ExceptionCode:
    for e in EXCEPTION_CODES:
        if e.code == code:
            return e
    raise KeyError(f"unknown exception code {code!r}; known: {[e.code for e in EXCEPTION_CODES]}")
