"""A small hand-made corpus in the generator's format (manifests, scans, notes, refunds, policies) for tests."""

from __future__ import annotations

import json
import random
from pathlib import Path

FCS = ("LEJ1", "MAD2", "RNO1", "SIN1")
CARRIERS = ("SKX", "MRP", "KST", "BLR")
CATS = (("EL", "electronics"), ("AP", "apparel"), ("BK", "books"), ("TY", "toys"))
NOTE_WORDS = "pallet restack dock door forklift inventory count damaged carton relabel backlog overtime".split()
EVENTS = ("PICKED_UP", "DEPARTED", "ARRIVED_HUB", "OUT_FOR_DELIVERY", "DELIVERED")


def write_fixture_corpus(root: Path, n_orders: int = 60, seed: int = 7) -> dict[str, object]:
    """Write ``root/docs/...``; return planted facts: {"needle": (order, line), "orders": [...]}."""
    rng = random.Random(seed)
    docs = root / "docs"
    for sub in ("manifests", "scans", "notes", "refunds", "policies"):
        (docs / sub).mkdir(parents=True, exist_ok=True)
    orders = []
    manifest: dict[int, list[str]] = {2021: [], 2022: []}
    scans: dict[tuple[int, int], list[str]] = {}
    for i in range(n_orders):
        year, month, day = 2021 + i % 2, 1 + i % 3, 1 + rng.randrange(20)
        oid, fc, car = f"#{48000 + i * 7}", FCS[i % len(FCS)], CARRIERS[i % len(CARRIERS)]
        tracking = f"{car}{rng.randrange(10**9, 10**10)}"
        for _ in range(1 + i % 2):
            code, cat = CATS[rng.randrange(len(CATS))]
            manifest[year].append(
                f"{oid},{year}-{month:02d}-{day:02d},C-{rng.randrange(10000, 99999)},{fc},{car},{tracking},"
                f"SKU-{code}-{rng.randrange(10000, 99999)},{cat},1,{rng.randrange(10, 2000)}.00,"
                f"{year}-{month:02d}-{day + 1:02d}"
            )
        for h, ev in enumerate(EVENTS):
            stamp = f"{year}-{month:02d}-{day + 1 + h // 2:02d}T{8 + h:02d}:{rng.randrange(60):02d}:11Z"
            line = f"{stamp} {car} {tracking} {oid} {fc} {ev}"
            scans.setdefault((year, month), []).append(line)
        orders.append({"order": oid, "fc": fc, "carrier": car, "tracking": tracking, "year": year, "month": month})
    needle = orders[13]
    needle_line = (
        f"{needle['year']}-{needle['month']:02d}-05T14:05:11Z {needle['carrier']} {needle['tracking']} "
        f"{needle['order']} {needle['fc']} EXCEPTION EX-77 SEAL_BREACH_REVIEW "
        "tamper seal breach, held for security review"
    )
    scans[(needle["year"], needle["month"])].append(needle_line)
    header = "order_id,order_date,customer,fc,carrier,tracking,sku,category,qty,declared_value_usd,ship_date"
    for year, rows in manifest.items():
        (docs / "manifests" / f"manifest_{year}.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    for (year, month), lines in scans.items():
        (docs / "scans" / f"scans_{year}_{month:02d}.log").write_text("\n".join(sorted(lines)) + "\n")
    for fc in FCS[:2]:
        parts = [f"# {fc} warehouse notes, March 2021", ""]
        for d in (5, 12, 19):
            o = rng.choice(orders)
            words = " ".join(rng.choice(NOTE_WORDS) for _ in range(30))
            parts += [
                f"## 2021-03-{d:02d} (shift: night)",
                "",
                f"Order {o['order']} shipped late. {words}.",
                "",
                f"Second paragraph on {words[:40]}.",
                "",
            ]
        (docs / "notes" / f"{fc}_2021_03.md").write_text("\n".join(parts))
    with (docs / "refunds" / "refunds_2021.jsonl").open("w") as f:
        for j, o in enumerate(orders[:10]):
            rec = {
                "id": f"RF-2021-{j:05d}",
                "type": "refund" if j % 2 else "return",
                "timestamp": f"2021-0{o['month']}-25T10:00:00Z",
                "text": f"Customer asked for a refund on {o['order']}: item arrived damaged.",
                "metadata": {
                    "order_id": o["order"],
                    "amount_usd": 100.0 + j,
                    "status": "approved",
                    "reason": "damaged",
                },
            }
            f.write(json.dumps(rec) + "\n")
    (docs / "policies" / "POL-REFUND_v3.md").write_text(
        "# POL-REFUND v3 — effective 2020-11-01\n\n## Scope\n\nRefunds for high-value orders above 1000 USD need a "
        "second approver.\n\n## Windows\n\nReturns are accepted within 30 days of delivery.\n"
    )
    return {"needle": (needle["order"], needle_line), "orders": orders}
