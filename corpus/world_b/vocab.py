"""World b's own vocabulary: sites, carriers, event codes, agents, catalog and the policy documents' numbers.

Nothing here is shared with world a; the product learns these names from the reference folder and the records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

START_YEAR = 2018
N_MONTHS = 96  # January 2018 .. December 2025
HISTORY_START = date(START_YEAR, 1, 1)


@dataclass(frozen=True)
class Site:
    code: str
    city: str
    country: str
    gateways: tuple[str, ...]  # carrier gateways a parcel from this site passes


@dataclass(frozen=True)
class CarrierB:
    code: str
    name: str
    feed: str  # scan log style: "pipe", "prose" or "kv"
    tracking_hint: str  # what the reference table says the number looks like


SITES: tuple[Site, ...] = (
    Site("PL-POZ", "Poznan", "Poland", ("GW-WAW", "GW-BER")),
    Site("NL-TIL", "Tilburg", "Netherlands", ("GW-AMS", "GW-BRU")),
    Site("CZ-PRG", "Prague", "Czechia", ("GW-VIE", "GW-NUE")),
    Site("GB-EMA", "East Midlands", "United Kingdom", ("GW-LHR", "GW-MAN")),
    Site("US-PHX", "Phoenix", "United States", ("GW-LAX", "GW-DFW")),
    Site("US-CVG", "Cincinnati", "United States", ("GW-ORD", "GW-ATL")),
    Site("AU-SYD", "Sydney", "Australia", ("GW-MEL", "GW-BNE")),
)

CARRIERS_B: tuple[CarrierB, ...] = (
    CarrierB("ATP", "Atlas Post", "pipe", "AP + 9 digits + XB"),
    CarrierB("NVF", "Northvale Freight", "prose", "NV + 12 digits"),
    CarrierB("QRC", "Quillrun Couriers", "kv", "1Q + 16 letters or digits"),
    CarrierB("BZL", "Bronzeleaf Logistics", "pipe", "10 digits"),
    CarrierB("ODM", "Osprey Direct", "prose", "OSP- + 8 digits"),
)

SITE = {s.code: s for s in SITES}
CARRIER = {c.code: c for c in CARRIERS_B}

# Scan events: code -> (meaning, how the prose feeds say it)
EVENTS: dict[str, tuple[str, str]] = {
    "DEPARTED": ("left the shipping site", "departed"),
    "GATEWAY": ("arrived at a carrier gateway", "reached gateway"),
    "OUT_FOR_DELIVERY": ("on the van for delivery", "out for delivery"),
    "DELIVERED": ("handed to the consignee", "delivered"),
    "RETURN_PICKUP": ("return parcel collected from the customer", "collected for return"),
    "RETURN_RECEIVED": ("return parcel received back at the site", "received back"),
}

# Exception codes: code -> (meaning, category)
EXCEPTIONS: dict[str, tuple[str, str]] = {
    "D17": ("address label unreadable; parcel relabelled", "delivery"),
    "D22": ("consignee not available; delivery attempted", "delivery"),
    "W04": ("weather delay at the gateway", "transit"),
    "C31": ("customs papers incomplete; held for documents", "customs"),
    "R09": ("return label void; parcel waited for a new label", "return"),
    "HOLD-DMG": ("parcel damaged; held for a damage inspection", "hold"),
    "HOLD-SEC": ("packaging tampered; parcel sent to security review", "hold"),
}
OUTBOUND_FILLER_CODES = ("D17", "D22", "W04", "C31")
RETURN_FILLER_CODES = ("R09", "HOLD-DMG", "HOLD-SEC")

AGENTS = ("Ines Okafor", "Tomasz Lind", "Priya Nair", "Mateo Ruiz", "Hana Sato", "Femi Adeyemi", "Greta Holm",
          "Yusuf Demir", "Lucia Ferri", "Noor Haddad")

# Catalog: category -> (product type code -> product noun, price range in EUR)
CATALOG: dict[str, dict[str, tuple[str, float, float]]] = {
    "EL": {"PHN": ("smartphone", 180, 1300), "LAP": ("laptop", 450, 2400), "TAB": ("tablet", 150, 1100),
           "HDP": ("headphones", 25, 420), "CAM": ("mirrorless camera", 380, 2600), "WCH": ("smartwatch", 90, 700)},
    "HM": {"KTL": ("kettle", 19, 120), "LMP": ("floor lamp", 35, 260), "BLK": ("wool blanket", 29, 180),
           "PAN": ("frying pan", 15, 140), "VAC": ("stick vacuum", 90, 650)},
    "GD": {"HSE": ("garden hose", 12, 70), "TRM": ("hedge trimmer", 45, 320), "PLN": ("planter box", 18, 150)},
    "TX": {"JKT": ("rain jacket", 40, 280), "BOO": ("hiking boots", 55, 260), "SCF": ("scarf", 9, 60)},
    "BK": {"NOV": ("novel", 6, 30), "ATL": ("road atlas", 12, 45), "CKB": ("cookbook", 14, 55)},
    "TO": {"BRK": ("brick set", 15, 240), "PZL": ("jigsaw puzzle", 9, 45), "RCC": ("remote-control car", 30, 190)},
}
FILLER_VARIANT_LETTERS = "ABCDEFGHJKLMNPRSTUVWXY"  # never Q or Z: those are kept for planted items

# Paraphrase pool: (category, type code, product noun in the records, paraphrase the agent uses,
#                   defect as the note writes it, defect as the customer says it). Planted only.
PARAPHRASES: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("HM", "GRN", "espresso grinder", "coffee mill", "its hopper shattered", "the bean container broken"),
    ("TO", "ROW", "rowing machine", "indoor rower", "the seat rail bent", "the runner under the saddle warped"),
    ("HM", "MIX", "stand mixer", "kitchen mixer", "the bowl lock snapped off", "the clamp that holds the bowl broken"),
    ("EL", "TSC", "telescope", "stargazing scope", "a cracked eyepiece", "the lens you look through split"),
    ("HM", "SEW", "sewing machine", "stitching machine", "the needle plate missing", "no metal plate under the needle"),
    ("EL", "BMN", "baby monitor", "nursery camera", "a dead night-vision LED", "the dark mode not working at all"),
    ("GD", "HMC", "hammock chair", "hanging seat", "frayed suspension ropes", "the cords it hangs from worn through"),
    ("HM", "AFR", "air fryer", "hot-air cooker", "a melted basket handle", "the drawer grip deformed by heat"),
    ("TX", "SLB", "sleeping bag", "camping bedroll", "a jammed zip", "the fastener stuck shut"),
    ("EL", "PRJ", "pocket projector", "mini beamer", "a flickering lamp", "the light that keeps blinking"),
)
PLANTED_ONLY_NOUNS = tuple(p[2] for p in PARAPHRASES)


@dataclass(frozen=True)
class Revision:
    """One version of a policy document and the numbers it sets."""

    number: int
    effective: date
    values: dict[str, int]


# Returns Handbook: return window in days after delivery.
HANDBOOK = (
    Revision(1, date(2018, 1, 1), {"window": 30}),
    Revision(2, date(2019, 6, 15), {"window": 45}),
    Revision(3, date(2021, 4, 1), {"window": 30}),
    Revision(4, date(2023, 2, 15), {"window": 60}),
    Revision(5, date(2025, 3, 1), {"window": 40}),
)
# Refund Standard: days from receipt to refund, and the extra hold under a security review or damage inspection.
REFUND_STANDARD = (
    Revision(1, date(2018, 1, 1), {"processing": 5, "security": 14, "damage": 7}),
    Revision(2, date(2022, 7, 1), {"processing": 3, "security": 10, "damage": 5}),
    Revision(3, date(2024, 10, 1), {"processing": 2, "security": 10, "damage": 4}),
)


def in_force(revisions: tuple[Revision, ...], day: date) -> Revision:
    """The revision in force on ``day`` (the last one whose effective date is not after it)."""
    current = revisions[0]
    for r in revisions:
        if r.effective <= day:
            current = r
    return current


def refund_wait_days(day: date, exception: str | None) -> int:
    """Days from receipt to refund under the Refund Standard in force, with its holds."""
    std = in_force(REFUND_STANDARD, day).values
    extra = {"HOLD-SEC": std["security"], "HOLD-DMG": std["damage"]}.get(exception or "", 0)
    return std["processing"] + extra
