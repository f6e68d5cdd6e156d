"""The trade-off view: the Pareto frontier of (peak memory, time per sample) and the plan's chart."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["pareto_front", "plot_plan"]


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of points no other point beats on both coordinates (lower is better), by the first coordinate.

    Examples
    --------
    >>> pareto_front([(1, 5), (2, 3), (3, 4), (4, 1)])
    [0, 1, 3]
    """
    front = []
    for i, (a, b) in enumerate(points):
        dominated = any(c <= a and d <= b and (c, d) != (a, b) for c, d in points)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i])


def plot_plan(plan: Any, path: str | os.PathLike) -> Path:
    """Measured candidates as points (peak memory vs time per sample), the frontier as a line, the chosen one
    ringed, marker colour = probed validation loss; the memory budget as a vertical line and the time budget,
    per sample, as a horizontal one. Candidates only estimated are drawn hollow at their estimated peak."""
    from tightfit.files import atomic_save
    from tightfit.viz import _figure

    fig = _figure(8, 5)
    ax = fig.add_subplot(1, 1, 1)
    # a plan for several ranks has estimates only (no time per sample): its candidates are drawn as estimated
    timed = [c.measured is not None and "seconds_per_sample_s" in c.measured.extra for c in plan.candidates]
    measured = [(i, c) for i, c in enumerate(plan.candidates) if timed[i]]
    xs = [c.measured.memory_peak_bytes / 1e6 for _, c in measured]
    ys = [c.measured.extra["seconds_per_sample_s"] * 1e3 for _, c in measured]
    losses = [c.measured.extra.get("val_loss") for _, c in measured]
    colours = losses if all(v is not None for v in losses) and losses else None
    colour_kwargs = {"c": colours, "cmap": "viridis_r"} if colours is not None else {}
    points = ax.scatter(xs, ys, s=50, label="measured", zorder=3, **colour_kwargs)
    if colours is not None:
        fig.colorbar(points, ax=ax, label="validation loss")
    for (_, cand), x, y in zip(measured, xs, ys, strict=True):
        ax.annotate(cand.name, (x, y), fontsize=7, xytext=(4, 4), textcoords="offset points")
        if cand.status == "chosen":
            ax.scatter([x], [y], s=220, facecolors="none", edgecolors="red", linewidths=2, label="chosen", zorder=4)
    front = [plan.candidates[i] for i in plan.frontier]
    if front:
        ax.plot(
            [c.measured.memory_peak_bytes / 1e6 for c in front],
            [c.measured.extra["seconds_per_sample_s"] * 1e3 for c in front],
            "k--",
            linewidth=1,
            label="frontier",
        )
    if plan.budget.memory is not None:
        ax.axvline(plan.budget.memory / 1e6, color="red", linestyle=":", label="memory budget")
    n_samples = next((c.measured.projected_s / c.measured.extra["seconds_per_sample_s"] for _, c in measured), None)
    if plan.budget.time is not None and n_samples:
        ax.axhline(plan.budget.time / n_samples * 1e3, color="orange", linestyle=":", label="time budget")
    ax.set_xlabel("peak memory (MB)")
    ax.set_ylabel("time per sample (ms)")
    ax.set_title("tightfit plan: candidates under the budget")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return atomic_save(path, lambda tmp: fig.savefig(tmp, format="png"))
