"""`write_report`: one renderer for every command — ``report.html``, ``run.json`` and ``leaderboard.csv``.

The page holds the budget as the user stated it (and the fields this workload could not honour), the binding
limit with its evidence and the technique ids that relax it, the leaderboard (every entry with its measured
figures, verdict and reason), the workload's charts embedded as PNGs (so the file can be mailed or archived
on its own), the machine in human units and the exact lines that load and use the artefact.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tightfit.files import atomic_write_text
from tightfit.search.leaderboard import Leaderboard
from tightfit.units import format_seconds

__all__ = ["write_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 80em; }
table { border-collapse: collapse; font-size: 14px; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child, td.text { text-align: left; }
tr.chosen { background: #e8f5e9; font-weight: 600; }
tr.over_limit, tr.failed, tr.skipped { color: #888; }
pre { background: #f5f5f5; padding: 1em; }
"""


def _confusion(chosen: Any) -> str:
    """The chosen entry's out-of-fold confusion matrix at its decision rule, when the workload measured one."""
    confusion = None if chosen is None else chosen.details.get("confusion")
    if not confusion:
        return ""
    labels = [html.escape(label) for label in confusion["labels"]]
    head = "<tr><th>true \\ predicted</th>" + "".join(f"<th>{label}</th>" for label in labels) + "</tr>"
    body = "".join(
        f"<tr><td>{label}</td>" + "".join(f"<td>{n}</td>" for n in row) + "</tr>"
        for label, row in zip(labels, confusion["counts"], strict=True)
    )
    rule = chosen.details.get("decision")
    return (f"<h2>Confusion matrix (out of fold, decision {html.escape(str(rule))} tuned for "
            f"{html.escape(str(chosen.details.get('decision_metric')))})</h2><table>{head}{body}</table>")  # fmt: skip


def _image(path: Path) -> str:
    encoded = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{encoded}">'


def write_report(
    out: str | Path,
    command: str,
    board: Leaderboard,
    charts: Sequence[Path | None] = (),
    usage: Sequence[str] = (),
    extra: dict[str, Any] | None = None,
    columns: list[tuple[str, str]] | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """Write ``out/report.html``, ``out/run.json`` and ``out/leaderboard.csv`` for one command; returns the
    page's path. Every file is written atomically and ``run.json`` last. ``extra`` adds workload fields to
    ``run.json`` (the chosen config, the task); ``notes`` are what the workload assumed or dropped (data
    rules), shown with the budget's own warnings."""
    from tightfit.hardware import Hardware
    from tightfit.runinfo import human_machine, write_run_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    hardware = Hardware.probe()
    machine = hardware.summary()
    notes = [*board.budget.beyond(hardware), *notes]
    record = {"command": command, **board.to_dict(), "usage": list(usage), "notes": notes, **(extra or {})}
    atomic_write_text(out / "leaderboard.csv", board.to_frame().to_csv(index=False))
    chosen = board.chosen
    binding = board.binding
    images = "".join(_image(Path(path)) for path in charts if path is not None and Path(path).is_file())
    ignored = (
        f"<p>Not honoured by <code>{command}</code>: {html.escape(', '.join(board.ignored))} (stated, but this "
        "workload has no figure to hold to it).</p>"
        if board.ignored
        else ""
    )
    advice = (
        f"<p>Techniques that relax it: {html.escape(', '.join(binding.techniques))}.</p>" if binding.techniques else ""
    )
    took = "" if board.search_s is None else f"; the search took {format_seconds(board.search_s)}"
    machine_text = "; ".join(f"{k}: {v}" for k, v in human_machine(machine).items())
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>tightfit {html.escape(command)} report</title><style>{_STYLE}</style>
</head><body>
<h1>tightfit {html.escape(command)}: {html.escape(chosen.name if chosen else "nothing fits")}</h1>
<p>Budget: <code>{html.escape(str(board.budget))}</code>{html.escape(took)}.</p>
{ignored}
{"".join(f"<p>Note: {html.escape(n)}</p>" for n in notes)}
<p>Binding limit: <b>{html.escape(binding.binding)}</b> — {html.escape(binding.evidence)}</p>
{advice}
<h2>Leaderboard</h2>{board.html(columns)}
{_confusion(chosen)}
{f"<h2>Charts</h2>{images}" if images else ""}
<h2>Use it</h2><pre>{html.escape(chr(10).join(usage))}</pre>
<p>Machine: {html.escape(machine_text)}</p>
<p>Every figure was measured on this machine; sizes and times are in decimal units.</p>
</body></html>
"""
    atomic_write_text(out / "report.html", page)
    write_run_json(out, record, hardware)  # last, atomically: a run.json means the rest of the run is on disk
    return out / "report.html"
