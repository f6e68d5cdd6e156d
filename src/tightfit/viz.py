"""Plots behind every result's ``.plot(path)``: memory timelines now, Pareto and forecast charts later.

matplotlib is imported inside each function and drawn on an Agg canvas owned by the figure, so
tightfit never switches the user's global backend and ``import tightfit`` stays light.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tightfit.files import atomic_save

__all__ = [
    "plot_forecast",
    "plot_learning_curves",
    "plot_memory_time",
    "plot_memory_timeline",
    "plot_quality_cost",
    "plot_size_latency",
]

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


def _save_png(fig, path: str | os.PathLike) -> Path:
    return atomic_save(Path(path), lambda tmp: fig.savefig(tmp, format="png", bbox_inches="tight"), suffix=".png")


def _labelled_points(ax, labels, xs, ys, verdicts, grey: tuple[str, ...]) -> None:
    """One labelled point per item: grey for the ``grey`` verdicts, a red ring around the chosen one."""
    for label, x, y, verdict in zip(labels, xs, ys, verdicts, strict=True):
        ax.scatter([x], [y], s=50, color="grey" if verdict in grey else "tab:blue", zorder=3)
        ax.annotate(label, (x, y), fontsize=8, xytext=(4, 4), textcoords="offset points")
        if verdict == "chosen":
            ax.scatter([x], [y], s=220, facecolors="none", edgecolors="red", linewidths=2, zorder=4)


def plot_quality_cost(
    labels: Sequence[str],
    seconds: Sequence[float],
    quality: Sequence[float],
    verdicts: Sequence[str],
    path: str | os.PathLike,
    metric: str,
    title: str = "quality vs cost",
    xlabel: str = "fit time (s, median fold)",
) -> Path:
    """Quality (y) against fit seconds (x, log scale) per candidate; the chosen one ringed, dropped ones grey."""
    fig = _figure(8, 5)
    ax = fig.add_subplot(1, 1, 1)
    _labelled_points(ax, labels, seconds, quality, verdicts, grey=("over_limit", "failed", "skipped"))
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric)
    ax.set_title(f"{title} (red ring: chosen; grey: broke a limit)")
    ax.grid(alpha=0.3)
    return _save_png(fig, path)


def plot_memory_time(
    labels: Sequence[str],
    peaks: Sequence[int],
    seconds: Sequence[float],
    quality: Sequence[float | None],
    verdicts: Sequence[str],
    path: str | os.PathLike,
    front: Sequence[str] = (),
    memory_cap: int | None = None,
    time_cap: float | None = None,
    quality_label: str = "quality",
    title: str = "memory vs time",
) -> Path:
    """Peak memory (x, MB) against time (y, s) per setting, colour = ``quality``; the Pareto ``front`` (labels)
    outlined in black, the chosen one ringed, settings over a limit crossed, the budget's limits as lines."""
    fig = _figure(8, 5)
    ax = fig.add_subplot(1, 1, 1)
    megabytes = [b / _MB for b in peaks]
    valid = [q for q in quality if q is not None]
    filled = [q if q is not None else min(valid, default=0.0) for q in quality]
    colours = {"c": filled, "cmap": "viridis_r"} if valid else {}
    points = ax.scatter(megabytes, seconds, s=60, zorder=3, **colours)
    if valid:
        fig.colorbar(points, ax=ax, label=quality_label)
    for label, x, y, verdict in zip(labels, megabytes, seconds, verdicts, strict=True):
        ax.annotate(label, (x, y), fontsize=7, xytext=(4, 4), textcoords="offset points")
        if label in front:
            ax.scatter([x], [y], s=110, facecolors="none", edgecolors="black", linewidths=1.2, zorder=4)
        if verdict == "chosen":
            ax.scatter([x], [y], s=240, facecolors="none", edgecolors="red", linewidths=2, zorder=4)
        elif verdict in ("over_limit", "failed"):
            ax.scatter([x], [y], s=120, marker="x", color="grey", zorder=4)
    if front:
        ax.scatter([], [], s=110, facecolors="none", edgecolors="black", label="Pareto frontier")
    if memory_cap is not None:
        ax.axvline(memory_cap / _MB, color="red", linestyle=":", label="memory budget")
    if time_cap is not None:
        ax.axhline(time_cap, color="orange", linestyle=":", label="time budget")
    ax.set_xlabel("measured peak memory (MB)")
    ax.set_ylabel("projected fit time (s)")
    ax.set_title(f"{title} (red ring: chosen; x: broke a limit)")
    ax.grid(alpha=0.3)
    if front or memory_cap is not None or time_cap is not None:
        ax.legend(fontsize=8)
    return _save_png(fig, path)


def plot_learning_curves(curves: Any, path: str | os.PathLike, metric: str = "roc_auc",
                         title: str = "learning curves") -> Path:  # fmt: skip
    """One line per strategy: the held-out ``metric`` (y) against labelled rows (x), from a frame of
    (strategy, labels, metric) rows."""
    fig = _figure(8, 5)
    ax = fig.add_subplot(1, 1, 1)
    for strategy, rows in curves.groupby("strategy", sort=False):
        ax.plot(rows["labels"], rows[metric], marker="o", label=strategy)
    ax.set_xlabel("labelled rows")
    ax.set_ylabel(f"held-out {metric}")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save_png(fig, path)


def plot_size_latency(
    labels: Sequence[str],
    sizes: Sequence[int],
    seconds: Sequence[float],
    verdicts: Sequence[str],
    path: str | os.PathLike,
    batch: int,
) -> Path:
    """p50 latency (y) against size (x) per model variant; the chosen one ringed, rejected/failed ones grey."""
    fig = _figure(8, 5)
    ax = fig.add_subplot(1, 1, 1)
    megabytes, milliseconds = [b / 1e6 for b in sizes], [t * 1e3 for t in seconds]
    _labelled_points(ax, labels, megabytes, milliseconds, verdicts, grey=("over_limit", "failed", "skipped"))
    ax.set_xlabel("size (MB)")
    ax.set_ylabel(f"p50 latency at batch {batch} (ms)")
    ax.set_title("tightfit compress: size vs latency (red ring: chosen; grey: broke a limit)")
    ax.grid(alpha=0.3)
    return _save_png(fig, path)


def plot_forecast(
    past_x: Sequence[Any],
    past_y: Sequence[float],
    future_x: Sequence[Any],
    future_y: Sequence[float],
    bands: Sequence[tuple[int, Sequence[float], Sequence[float]]],
    path: str | os.PathLike,
    title: str,
) -> Path:
    """History (black), forecast (blue) and its intervals (shaded, widest lightest) of one series."""
    fig = _figure(9, 4)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(list(past_x), list(past_y), color="black", linewidth=1.2, label="history")
    for i, (level, low, high) in enumerate(sorted(bands, key=lambda band: -band[0])):
        ax.fill_between(list(future_x), low, high, color="tab:blue", alpha=0.15 + 0.15 * i, label=f"{level}% interval")
    ax.plot(list(future_x), list(future_y), color="tab:blue", linewidth=1.8, label="forecast")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return _save_png(fig, path)
