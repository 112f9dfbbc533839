"""Packing test data: refund records with known facts, evidence lists, and readers of a packed prompt."""

from __future__ import annotations

import random
import re

from packing import Evidence
from packing.claims import Lexicon

# a tenant that writes orders as #NNNNN, exception codes as EX-NN and SKUs as SKU-XX-NNNN (what the app builds from
# such a tenant's learned vocabulary)
HASH_ORDERS = Lexicon(
    patterns=(
        ("order_id", re.compile(r"#\d{5,7}(?!\d)")),
        ("code", re.compile(r"\bEX-\d{2}\b", re.I)),
        ("sku", re.compile(r"\bSKU-[A-Z]{2}-\d{4,6}\b", re.I)),
    ),
    names=(("skyline express", ("Skyline Express",), ("SKX",)),),
)

CARRIERS = ["Skyline Express", "Meridian Parcel", "Kestrel Logistics", "BlueRoute"]


def refund_record(i: int, rng: random.Random) -> tuple[str, dict[str, str]]:
    """A refund note with known facts (order id, date, amount, code, carrier, SKU)."""
    facts = {
        "order": f"#{100000 + i}",
        "date": f"2021-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "amount": f"${rng.randint(1, 2400):,}.{rng.randint(0, 99):02d}",
        "code": f"EX-{rng.randint(10, 99)}",
        "carrier": rng.choice(CARRIERS),
        "sku": f"SKU-EL-{rng.randint(1000, 9999)}",
    }
    text = (
        f"Refund for order {facts['order']} ({facts['sku']}) issued on {facts['date']}: {facts['amount']} "
        f"after {facts['carrier']} reported exception {facts['code']}."
    )
    return text, facts


def make_evidence(n: int, seed: int = 0, words: tuple[int, int] = (5, 40)) -> list[Evidence]:
    rng = random.Random(seed)
    vocab = "parcel scanned hub delayed refund customer label weight carrier note policy return warehouse".split()
    out = []
    for i in range(n):
        text = f"Order #{200000 + i} " + " ".join(rng.choice(vocab) for _ in range(rng.randint(*words)))
        out.append(
            Evidence(
                f"id{i}",
                rng.choice(["scan", "note", "refund"]),
                text,
                1.0 / (i + 1),
                i + 1,
                f"2021-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}" if rng.random() < 0.8 else None,
            )
        )
    return out


def blocks(prompt: str) -> list[tuple[str, str]]:
    """(label, text) of each evidence block in a packed prompt, in prompt order."""
    return re.findall(r"^\[(E\d+)\] (.*)$", prompt, flags=re.M)


def last_question(prompt: str) -> str:
    return re.findall(r"^Question: (.*)$", prompt, flags=re.M)[-1]
