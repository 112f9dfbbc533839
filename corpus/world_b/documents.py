"""World b's standing documents: the reference folder (codes to names) and the policy guides, each revision a file."""

from __future__ import annotations

from datetime import date

from corpus.world_b.plant_chains import (
    handbook_effective_line,
    handbook_window_line,
    standard_effective_line,
    standard_holds_line,
    standard_timing_line,
)
from corpus.world_b.vocab import CARRIERS_B, EVENTS, EXCEPTIONS, HANDBOOK, HISTORY_START, REFUND_STANDARD, SITES


def reference_files() -> dict[str, str]:
    """Path under docs/ -> content, written at the start of the history."""
    sites = ["code,city,country,gateways"] + [f"{s.code},{s.city},{s.country},{' '.join(s.gateways)}" for s in SITES]
    carriers = ["code,name,scan_feed,tracking_format"] + [f"{c.code},{c.name},{c.feed},{c.tracking_hint}"
                                                          for c in CARRIERS_B]
    events = ["code,kind,meaning"] + [f"{k},event,{v[0]}" for k, v in EVENTS.items()] + [
        f"{k},exception/{v[1]},{v[0]}" for k, v in EXCEPTIONS.items()]
    readme = "\n".join([
        "# Reference tables",
        "",
        "sites.csv lists the shipping sites by code; order rows name the site in the site column.",
        "carriers.csv maps each carrier code (the ship_via column, the pipe and key=value feeds) to the carrier's "
        "name (the prose feeds).",
        "event_codes.csv explains the scan events and the exception codes the carriers send.",
        "",
        "## Scan feeds",
        "Pipe feeds: time|location|carrier|tracking|event|ref. Prose feeds: a sentence per scan, @location, the "
        "carrier's name in brackets. Key=value feeds: ts, carrier, trk, evt, loc, ref and code.",
        "Outbound scans carry the order_ref as the shipper reference; return scans carry the RMA number.",
        "",
    ])
    return {"reference/sites.csv": "\n".join(sites) + "\n", "reference/carriers.csv": "\n".join(carriers) + "\n",
            "reference/event_codes.csv": "\n".join(events) + "\n", "reference/README.md": readme}


def handbook(number: int) -> tuple[date, str, str]:
    """(effective date, path, Markdown) of one Returns Handbook revision."""
    rev = HANDBOOK[number - 1]
    window = rev.values["window"]
    lines = [f"# Returns Handbook, revision {number}", ""]
    lines.append(f"{handbook_effective_line(number, rev.effective)}"
                 + (f" and replaces revision {number - 1}." if number > 1 else "."))
    lines += ["", "## Return window", "",
              f"{handbook_window_line(number, window)} of delivery, counted from the DELIVERED scan.", "",
              "## Condition", "",
              "Items come back with their accessories and packaging. Opened hygiene products cannot be returned.", "",
              "## Labels", "",
              "Every RMA gets a prepaid return label from the original carrier. A void label (R09) is reissued by "
              "the agent who opened the RMA.", ""]
    return rev.effective, f"guides/returns-handbook-rev{number}.md", "\n".join(lines)


def refund_standard(number: int) -> tuple[date, str, str]:
    """(effective date, path, Markdown) of one Refund Standard edition."""
    ed = REFUND_STANDARD[number - 1]
    v = ed.values
    lines = [f"# Refund Standard, edition {number}", ""]
    lines.append(f"{standard_effective_line(number, ed.effective)}"
                 + (f" and replaces edition {number - 1}." if number > 1 else "."))
    lines += ["", "## Timing", "",
              f"{standard_timing_line(number, v['processing'])} at the shipping site (the RETURN_RECEIVED scan).", "",
              "## Holds", "",
              f"{standard_holds_line(number, v['security'], v['damage'])}.", "",
              "## Method", "",
              "Refunds go back to the payment method of the order; a wallet credit only when the buyer asks.", ""]
    return ed.effective, f"guides/refund-standard-ed{number}.md", "\n".join(lines)


def standing_documents() -> list[tuple[date, str, str]]:
    """Every standing document with the day it appears, in order."""
    docs = [(HISTORY_START, path, text) for path, text in reference_files().items()]
    docs += [handbook(r.number) for r in HANDBOOK] + [refund_standard(e.number) for e in REFUND_STANDARD]
    return sorted(docs, key=lambda d: (d[0], d[1]))
