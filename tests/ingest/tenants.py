"""Two small hand-written tenants with different vocabularies, for the vocabulary, log and link tests.

Tenant A writes like our generator's world a (``LEJ1``, ``SKX``, ``#48291``, ``SKU-EL-10423``, ``EX-41``, scans as
space-separated columns). Tenant B is another shop: facility codes ``DE-LEJ``, carriers by code and name in a
reference table, SKUs ``EL-PHN-X12``, bare order numbers in an ``order_ref`` column and ``[ref 84976]`` in scans,
RMA numbers, pipe-delimited and free-text scan logs.
"""

from __future__ import annotations

import json
from pathlib import Path


def write(root: Path, rel: str, text: str) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def tenant_a(root: Path) -> Path:
    write(
        root,
        "manifests/manifest_2021.csv",
        "order_id,order_date,customer,fc,carrier,tracking,sku,qty\n"
        "#48291,2021-03-01,C-10001,LEJ1,SKX,SKX7731290042,SKU-EL-10423,1\n"
        "#48292,2021-03-01,C-10002,MAD2,MRP,MRP4256390640,SKU-TY-20001,2\n"
        "#48293,2021-03-02,C-10003,LEJ1,SKX,SKX7731290043,SKU-EL-10424,1\n"
        "#48294,2021-03-03,C-10004,DUB1,MRP,MRP4256390641,SKU-BK-30002,1\n",
    )
    write(
        root,
        "scans/scans_2021_03.log",
        "2021-03-02T14:05:11Z SKX SKX7731290042 #48291 LEJ1 PICKED_UP\n"
        "2021-03-03T09:00:00Z SKX SKX7731290042 #48291 HUB-LEJ EXCEPTION EX-41 CUSTOMS_HOLD held by customs\n"
        "2021-03-03T10:00:00Z MRP MRP4256390640 #48292 MAD2 PICKED_UP\n",
    )
    write(
        root,
        "scans/scans_2021_04.log",
        "2021-04-01T08:00:00Z SKX SKX7731290043 #48293 HUB-LEJ EXCEPTION EX-41 CUSTOMS_HOLD held by customs\n"
        "2021-04-02T08:00:00Z MRP MRP4256390641 #48294 DUB1 EXCEPTION EX-77 SEAL_BREACH_REVIEW held\n",
    )
    rows = [
        {"id": "RT-2021-00001", "type": "return", "timestamp": "2021-03-20T10:00:00Z",
         "text": "Return authorized for order #48291 (SKU-EL-10423).",
         "metadata": {"order_id": "#48291", "sku": "SKU-EL-10423", "status": "authorized"}},
        {"id": "RF-2021-00002", "type": "refund", "timestamp": "2021-03-25T10:00:00Z",
         "text": "Refund of $120.00 for order #48291 under POL-REFUND v3.",
         "metadata": {"order_id": "#48291", "amount_usd": 120.0, "status": "issued"}},
    ]  # fmt: skip
    write(root, "refunds/refunds_2021.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    write(
        root,
        "notes/LEJ1_2021_03.md",
        "# LEJ1 warehouse notes, March 2021 (Leipzig)\n\n## 2021-03-05\n\n"
        "Customer called about #48291; tracking showed EX-41. EX-77 seen on #48294; refund per POL-REFUND v3.\n",
    )
    return root


def tenant_b(root: Path, profile: str | None = None) -> Path:
    write(
        root,
        "reference/carriers.csv",
        "code,name,aliases\nATP,Atlas Post,atlas;atlas parcel\nNFX,Nordfracht Express,nordfracht\n",
    )
    write(
        root,
        "reference/sites.md",
        "# Our sites\n\n| site | name | city |\n|---|---|---|\n"
        "| DE-LEJ | Leipzig Hub | Leipzig |\n| US-RNO | Reno Hub | Reno |\n",
    )
    write(
        root,
        "orders/orders_2021.csv",
        "order_ref,placed,site,carrier,tracking_no,item\n"
        "84976,2021-03-01,DE-LEJ,ATP,ATP100200300,EL-PHN-X12\n"
        "84977,2021-03-01,DE-LEJ,ATP,ATP100200301,HG-LMP-A07\n"
        "84978,2021-03-02,US-RNO,NFX,NFX500600700,EL-TAB-X10\n"
        "84979,2021-03-02,US-RNO,NFX,NFX500600701,TY-CAR-B02\n",
    )
    write(
        root,
        "scans/carrier_feed.log",
        "2021-03-02 14:05|ATP100200300|DE-LEJ|DEPART|\n"
        "2021-03-03 09:10|ATP100200300|DE-LEJ|HOLD|HOLD-SEC\n"
        "2021-03-03 11:00|NFX500600700|US-RNO|DELAY|D17\n",
    )
    write(
        root,
        "scans/dock_notes.log",
        "2021-03-04T09:12:00Z parcel ATP100200301 held at customs @DE-LEJ [ref 84977] code D17\n"
        "2021-03-05T10:00:00Z parcel ATP100200300 released @DE-LEJ [ref 84976] after HOLD-SEC\n"
        "2021-03-05T11:00:00Z parcel NFX500600701 late @US-RNO [ref 84979] code D17\n",
    )
    rma = {"id": "RMA-2021-00412", "type": "rma", "timestamp": "2021-03-20T10:00:00Z",
           "text": "Customer returns the phone from order 84976; label sent.",
           "metadata": {"order_ref": "84976", "return_tracking": "ATP900000001", "reason": "defective"}}  # fmt: skip
    write(root, "returns/rma_2021.jsonl", json.dumps(rma) + "\n")
    write(root, "returns/return_scans.log", "2021-03-22T08:00:00Z parcel ATP900000001 received @DE-LEJ\n")
    if profile is not None:
        write(root, "vocabulary.yaml", profile)
    return root
