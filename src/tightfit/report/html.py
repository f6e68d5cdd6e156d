"""`write_fit_report`: one self-contained HTML page for an :class:`~tightfit.tabular.autofit.AutoFit` run.

The page holds the budget, the machine, the chosen model, the leaderboard (every candidate with its measured
quality, fit time, latency, peak memory, size, verdict and reason) and the quality-vs-cost chart, embedded
as a PNG, so the file can be mailed or archived on its own.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from tightfit.files import atomic_write_text
from tightfit.measure._units import format_bytes, format_seconds

__all__ = ["write_fit_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 14px; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child, td.text { text-align: left; }
tr.chosen { background: #e8f5e9; font-weight: 600; }
tr.dropped, tr.failed, tr.skipped { color: #999; }
"""


def _cell(key: str, value: Any) -> str:
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return ""
    if key.endswith("bytes"):
        return format_bytes(value)
    if key.endswith(("seconds", "_s")):
        return format_seconds(value)
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def leaderboard_rows(
    results: list[dict[str, Any]], metric: str, reason_width: int | None = None
) -> list[dict[str, str]]:
    """Printable rows, the same for the HTML page and the CLI table (which cuts reasons to ``reason_width``)."""
    columns = [
        ("model", "model"), (metric, metric), ("fit_seconds", "fit (median fold)"),
        ("latency_p95_s", "latency p95 (1 row)"), ("peak_memory_bytes", "peak memory"),
        ("model_bytes", "size"), ("verdict", "verdict"), ("reason", "reason"),
    ]  # fmt: skip
    rows = [{title: _cell(key, row.get(key)) for key, title in columns} for row in results]
    if reason_width is not None:
        for row in rows:
            if len(row["reason"]) > reason_width:
                row["reason"] = row["reason"][: reason_width - 1] + "…"
    return rows


def _plot(results: list[dict[str, Any]], metric: str, path: Path) -> Path | None:
    from tightfit.viz import plot_quality_cost

    points = [r for r in results if r.get("fit_seconds") is not None and r.get(metric) is not None]
    if not points:
        return None
    return plot_quality_cost(
        [r["model"] for r in points], [r["fit_seconds"] for r in points], [r[metric] for r in points],
        [r["verdict"] for r in points], path, metric,
    )  # fmt: skip


def write_fit_report(auto: Any, out: str | Path) -> Path:
    """Write ``out/report.html`` (and the chart beside it) for a fitted AutoFit; returns the page's path."""
    from tightfit.hardware import Hardware

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    info = auto.run_info(Hardware.probe().summary(), {})
    metric = info["metric"]
    chart = _plot(auto.results_, metric, out / "quality_vs_cost.png")
    rows = leaderboard_rows(auto.results_, metric)
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    body = "".join(
        f'<tr class="{html.escape(r["verdict"])}">'
        + "".join(f'<td class="{"text" if k == "reason" else ""}">{html.escape(v)}</td>' for k, v in r.items())
        + "</tr>"
        for r in rows
    )
    machine = ", ".join(f"{k}: {v}" for k, v in info["machine"].items() if not isinstance(v, (dict, list)))
    image = ""
    if chart is not None:
        encoded = base64.b64encode(chart.read_bytes()).decode()
        image = f'<h2>Quality vs cost</h2><img alt="quality vs fit time" src="data:image/png;base64,{encoded}">'
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>tightfit fit report</title><style>{_STYLE}</style></head><body>
<h1>tightfit fit: {html.escape(info["chosen"])}</h1>
<p>Task: {html.escape(info["task"])}; metric: {html.escape(metric)} ({info["cv"]}-fold cross-validation);
budget: {html.escape(str(auto.budget) or "none stated")}; binding limit: {html.escape(info["binding"] or "none")};
search took {format_seconds(info["search_seconds"])}.</p>
<p>Machine: {html.escape(machine)}</p>
<h2>Leaderboard</h2><table><tr>{head}</tr>{body}</table>
{image}
<p>Every figure was measured on this machine: quality by cross-validation, fit time as the median fold, latency
as the p95 of one-row predictions, peak memory as the candidate process's high-water mark, size as the
pickled pipeline.</p>
</body></html>
"""
    return atomic_write_text(out / "report.html", page)
