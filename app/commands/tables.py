"""Tables that fit the terminal: one wide table when every row fits unwrapped, else one small card per row."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table


def print_fitting(console: Console, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print ``rows`` under ``columns`` within ``console.width``: as one table when its widest rendering fits, else
    each row as a two-column card (column name, value), the values wrapping inside the width."""
    wide = Table(*columns, title=title)
    for row in rows:
        wide.add_row(*row)
    unbounded = console.options.update(max_width=10**6)
    if Measurement.get(console, unbounded, wide).maximum <= console.width:
        console.print(wide)
        return
    console.print(f"[bold]{title}[/]", overflow="fold")
    label_width = max(len(c) for c in columns)
    for row in rows:
        card = Table(show_header=False, title=None, width=console.width, expand=False)
        card.add_column(style="dim", overflow="fold", width=min(label_width, console.width // 3))
        card.add_column(overflow="fold", ratio=1)
        for name, value in zip(columns, row, strict=True):
            card.add_row(name, value)
        console.print(card)
