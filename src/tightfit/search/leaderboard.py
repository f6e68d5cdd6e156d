"""`Leaderboard`: the result of every search — its entries, the binding limit, and one way to show them.

``to_frame()`` (pandas), ``to_dict()``/``to_json()`` (``run.json``), ``rows()`` (printable cells and the
footnotes that carry each verdict's reason, for the terminal), ``cells()`` (the same cells, which the report's
template lays out with the reasons) and ``plot(path)`` (quality against cost). Every workload's result exposes
one, so ``report/`` renders them all the same way.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tightfit.budget import Budget
from tightfit.search.binding import Triage
from tightfit.search.entry import Entry
from tightfit.units import format_bytes, format_seconds

__all__ = ["Leaderboard", "format_cell"]

_STANDARD = (  # (Measured field, column title)
    ("fit_s", "fit time"),
    ("projected_s", "predicted fit"),
    ("peak_bytes", "peak memory"),
    ("device_peak_bytes", "device peak"),
    ("latency_p95_s", "latency p95"),
    ("size_bytes", "size"),
)


def format_cell(key: str, value: Any) -> str:
    """A figure in human units, whole: bytes and seconds by the key's suffix, other numbers to 4 places."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key.endswith("_bytes") and isinstance(value, (int, float)):
        return format_bytes(value)
    if key.endswith("_s") and isinstance(value, (int, float)):
        return format_seconds(value)
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1e5 else f"{value:.4g}"
    return str(value)


@dataclass
class Leaderboard:
    """The entries of one search in the order they ran, with the budget, the binding limit (:class:`Triage`),
    the stated budget fields this workload could not honour (``ignored``) and what an entry is (``entity``)."""

    entries: list[Entry]
    budget: Budget
    binding: Triage
    ignored: list[str] = field(default_factory=list)
    entity: str = "candidate"
    search_s: float | None = None
    interrupted: bool = False  # Ctrl-C ended the search early; the finished entries are kept

    @property
    def chosen(self) -> Entry | None:
        return next((e for e in self.entries if e.status == "chosen"), None)

    def __getitem__(self, name: str) -> Entry:
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise KeyError(f"no {self.entity} named {name!r}; have {[e.name for e in self.entries]}")

    @property
    def metric(self) -> str:
        return next((e.measured.metric for e in self.entries if e.measured and e.measured.metric), "")

    # -- data ---------------------------------------------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        """One flat dict per entry: name, verdict, reason, limit, then every measured figure."""
        out = []
        for e in self.entries:
            row = {self.entity: e.name, "verdict": e.status, "reason": e.reason, "limit": e.verdict.limit}
            out.append(row | (e.measured.flat() if e.measured else {}))
        return out

    def to_frame(self):
        """A pandas DataFrame of :meth:`records` (figures in bytes and seconds)."""
        import pandas as pd

        return pd.DataFrame(self.records())

    def to_dict(self) -> dict[str, Any]:
        chosen = self.chosen
        return {
            "entity": self.entity,
            "chosen": None if chosen is None else chosen.name,
            "binding": self.binding.to_dict(),
            "budget": self.budget.to_dict(),
            "budget_text": str(self.budget),
            "ignored": self.ignored,
            "search_s": self.search_s,
            "interrupted": self.interrupted,
            "entries": [e.to_dict() for e in self.entries],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    # -- presentation ---------------------------------------------------------------------------------------
    def cells(self, columns: list[tuple[str, str]] | None) -> list[dict[str, str]]:
        """Printable cells per entry: the name, the quality, ``columns``, the standard figures, the verdict."""
        records = self.records()
        metric = self.metric
        wanted = ([(metric, metric)] if metric else []) + list(columns or []) + list(_STANDARD)
        shown = [(k, t) for k, t in wanted if any(r.get(k) not in (None, "") for r in records)]
        return [
            {self.entity: r[self.entity]} | {title: format_cell(key, r.get(key)) for key, title in shown}
            | {"verdict": r["verdict"]}
            for r in records
        ]  # fmt: skip

    def rows(self, columns: list[tuple[str, str]] | None = None) -> tuple[list[dict[str, str]], list[str]]:
        """Printable rows and footnotes. ``columns``: extra ``(figure key, title)`` pairs shown after the
        quality. Each verdict's reason (but a plain "fits") is a numbered footnote marked in the verdict cell,
        so no cell ever needs cutting."""
        rows, notes = self.cells(columns), []
        for row, entry in zip(rows, self.entries, strict=True):
            if entry.reason and entry.status != "fits":
                notes.append(f"[{len(notes) + 1}] {entry.name}: {entry.reason}")
                row["verdict"] += f" [{len(notes)}]"
        return rows, notes

    def plot(self, path: str | Path, cost: str = "fit_s", title: str = "quality vs cost") -> Path | None:
        """Quality (y) against a cost figure (x, log scale) for the entries that have both; None when none do."""
        from tightfit.viz import plot_quality_cost

        points = [r for r in self.records() if r.get(cost) is not None and r.get(self.metric) is not None]
        if not points or not self.metric:
            return None
        return plot_quality_cost(
            [r[self.entity] for r in points], [r[cost] for r in points], [r[self.metric] for r in points],
            [r["verdict"] for r in points], path, self.metric, title=title, xlabel=cost,
        )  # fmt: skip
