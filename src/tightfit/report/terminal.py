"""`print_table`: a terminal table that never hides a number, at any width.

Every cell prints whole: long reasons are numbered footnotes under the table, and when the columns do not
fit the terminal the table is split into parts that each repeat the first column, instead of letting rich
cut numbers to ``0.99…``.
"""

from __future__ import annotations

import shutil

__all__ = ["print_table"]

_PADDING = 3  # rich's cell padding and border per column


def _widths(rows: list[dict[str, str]]) -> dict[str, int]:
    return {c: max(len(c), *(len(r[c]) for r in rows)) for c in rows[0]}


def _parts(columns: list[str], widths: dict[str, int], width: int) -> list[list[str]]:
    first, rest = columns[0], columns[1:]
    parts, current, used = [], [first], widths[first] + _PADDING + 1
    for column in rest:
        if len(current) > 1 and used + widths[column] + _PADDING > width:
            parts.append(current)
            current, used = [first], widths[first] + _PADDING + 1
        current.append(column)
        used += widths[column] + _PADDING
    parts.append(current)
    return parts


def print_table(title: str, rows: list[dict[str, str]], notes: list[str] = (), width: int | None = None) -> None:
    """Print ``rows`` (dicts of strings with the same keys) under ``title``, then ``notes``; ``width``
    defaults to the terminal's (``COLUMNS``)."""
    from rich.console import Console
    from rich.table import Table

    width = width or shutil.get_terminal_size((100, 24)).columns
    console = Console(width=width, soft_wrap=True)
    if not rows:
        console.print(f"{title}: no rows")
        return
    widths = _widths(rows)
    parts = _parts(list(rows[0]), widths, width)
    for i, columns in enumerate(parts):
        caption = title if len(parts) == 1 else f"{title} ({i + 1}/{len(parts)})"
        table = Table(title=caption, title_justify="left")
        for column in columns:
            table.add_column(column, no_wrap=True, min_width=widths[column], overflow="ignore")
        for row in rows:
            table.add_row(*(row[c] for c in columns))
        console.print(table, crop=False)
    for note in notes:
        console.print(note, markup=False, highlight=False)
