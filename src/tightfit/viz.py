"""Plots behind every result's ``.plot(path)``: memory timelines now, Pareto and forecast charts later.

matplotlib is imported inside each function and drawn on an Agg canvas owned by the figure, so
tightfit never switches the user's global backend and ``import tightfit`` stays light.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from tightfit.files import atomic_save

__all__ = ["plot_memory_timeline"]

_MB = 1e6


def _figure(width: float = 8.0, height: float = 4.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def plot_memory_timeline(
    times_s: Sequence[float],
    series: dict[str, Sequence[float]],
    path: str | os.PathLike,
    marks: Sequence[tuple[float, str]] = (),
    title: str = "Memory over time",
) -> Path:
    """Draw one line per series (bytes, shown in MB) against seconds, with a dashed line at each mark."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    for label, values in series.items():
        ax.plot(list(times_s), [v / _MB for v in values], label=label, linewidth=1.5)
    for t, label in marks:
        ax.axvline(t, color="grey", linestyle="--", linewidth=0.8)
        ax.annotate(
            label,
            (t, 1.0),
            xycoords=("data", "axes fraction"),
            rotation=90,
            va="top",
            ha="right",
            fontsize=8,
            color="dimgrey",
        )
    ax.set_xlabel("seconds")
    ax.set_ylabel("MB")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if series:
        ax.legend(loc="lower right")
    fig.tight_layout()
    return atomic_save(path, lambda tmp: fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png"))
