"""Dated, versioned policy documents (refunds, returns, hazmat); POL-REFUND v4 drives the canonical question."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Policy:
    name: str
    version: int
    effective: date
    window_days: int
    body: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"POL-{self.name} v{self.version}"

    @property
    def filename(self) -> str:
        return f"POL-{self.name}_v{self.version}.md"

    def render(self) -> str:
        lines = [f"# {self.label} — effective {self.effective}", ""]
        for i, para in enumerate(self.body, 1):
            lines += [f"## Section {i}", "", para, ""]
        return "\n".join(lines)


REFUND_WINDOWS = (30, 30, 21, 14, 14, 10)


def policies() -> list[Policy]:
    """All policy versions, oldest first. The texts are fixed; only their order of appearance is dated."""
    out: list[Policy] = []
    starts = (date(2016, 1, 1), date(2017, 6, 1), date(2019, 3, 1), date(2020, 11, 1), date(2022, 9, 1),
              date(2024, 5, 1))
    for v, (start, window) in enumerate(zip(starts, REFUND_WINDOWS, strict=True), 1):
        body = [
            f"Refunds are issued within {window} days of the return being received at the fulfillment center, "
            f"once the item passes inspection.",
            "Refunds go back to the original payment method; store credit only on request.",
        ]
        if v >= 4:
            body.append(
                "High-value electronics (declared value above $1,000) returned with a carrier seal-breach "
                "exception (EX-77) are held for a security review of up to 10 business days before any refund "
                "is issued.")
        if v >= 5:
            body.append("A refund delayed beyond the window must be explained to the customer in writing.")
        if v >= 6:
            body.append("Security reviews for EX-77 returns are shortened to 5 business days when the carrier "
                        "supplies chain-of-custody photos.")
        out.append(Policy("REFUND", v, start, window, tuple(body)))
    for v, (start, window) in enumerate(((date(2016, 1, 1), 30), (date(2018, 4, 1), 45), (date(2021, 8, 1), 30),
                                         (date(2023, 10, 1), 60)), 1):
        returns = (f"Customers may return items within {window} days of delivery.",
                "Opened software, gift cards and personalised items cannot be returned.",
                "Return shipping is free for defective items; otherwise a flat fee applies.")
        out.append(Policy("RETURNS", v, start, window, returns))
    for v, start in enumerate((date(2016, 1, 1), date(2019, 9, 1), date(2022, 2, 1)), 1):
        hazmat = (f"Lithium batteries ship under hazmat rules revision {v}; carriers may hold them (EX-91).",
                "Packages over 100 Wh need the class 9 label on two sides.")
        out.append(Policy("HAZMAT", v, start, 0, hazmat))
    return out


def in_effect(name: str, day: date) -> Policy:
    """The version of policy ``name`` in effect on ``day``."""
    cands = [p for p in policies() if p.name == name and p.effective <= day]
    if not cands:
        raise ValueError(f"no POL-{name} in effect on {day}")
    return max(cands, key=lambda p: p.effective)
