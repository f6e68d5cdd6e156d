"""`write_report`: one renderer for every command — ``report.html``, ``run.json`` and ``leaderboard.csv``.

The page holds the budget as the user stated it (and the fields this workload could not honour), the binding
limit with its evidence and the technique ids that relax it, the leaderboard (every entry with its measured
figures, verdict and reason), the workload's charts embedded as PNGs (so the file can be mailed or archived
on its own), the machine in human units and the exact lines that load and use the artefact. The page is
rendered from the ``jinja2`` templates in ``templates/`` (one per section, every value escaped by default).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tightfit.files import atomic_write_text
from tightfit.search.leaderboard import Leaderboard
from tightfit.units import format_seconds

__all__ = ["write_report"]

TEMPLATES = "templates"  # package data beside this module: report.html.j2 includes one template per section


def _environment():
    """The template set, escaping every value by default and refusing a name the page does not pass."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("tightfit.report", TEMPLATES), undefined=StrictUndefined,
                      autoescape=select_autoescape(["html", "html.j2"], default_for_string=True), trim_blocks=True,
                      lstrip_blocks=True)  # fmt: skip
    env.filters["seconds"] = format_seconds
    env.filters["zip"] = lambda first, second: zip(first, second, strict=True)
    return env


def _confusion(chosen: Any) -> dict[str, Any] | None:
    """The chosen entry's out-of-fold confusion matrix at its decision rule, when the workload measured one."""
    confusion = None if chosen is None else chosen.details.get("confusion")
    if not confusion:
        return None
    return {"labels": confusion["labels"], "counts": confusion["counts"], "decision": chosen.details.get("decision"),
            "metric": chosen.details.get("decision_metric")}  # fmt: skip


def _chart(path: Path) -> dict[str, str]:
    return {"name": path.stem, "base64": base64.b64encode(path.read_bytes()).decode()}


def write_report(
    out: str | Path,
    command: str,
    board: Leaderboard,
    charts: Sequence[Path | None] = (),
    usage: Sequence[str] = (),
    extra: dict[str, Any] | None = None,
    columns: list[tuple[str, str]] | None = None,
    notes: Sequence[str] = (),
    features: Sequence[str] = (),
) -> Path:
    """Write ``out/report.html``, ``out/run.json`` and ``out/leaderboard.csv`` for one command; returns the
    page's path. Every file is written atomically and ``run.json`` last. ``extra`` adds workload fields to
    ``run.json`` (the chosen config, the task); ``notes`` are what the workload assumed or dropped (data
    rules), shown with the budget's own warnings; ``features`` are the columns the chosen model reads, as its
    preprocessing names them (``city=Oslo``, ``joined.month``)."""
    from tightfit.hardware import Hardware
    from tightfit.runinfo import human_machine, write_run_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    hardware = Hardware.probe()
    machine = hardware.summary()
    notes = [*board.budget.beyond(hardware), *notes]
    record = {"command": command, **board.to_dict(), "usage": list(usage), "notes": notes, **(extra or {})}
    if features:
        record["features"] = list(features)
    atomic_write_text(out / "leaderboard.csv", board.to_frame().to_csv(index=False))
    page = _environment().get_template("report.html.j2").render(
        command=command, chosen=board.chosen, budget=str(board.budget), search_s=board.search_s,
        ignored=board.ignored, notes=notes, binding=board.binding, rows=board.cells(columns), entries=board.entries,
        confusion=_confusion(board.chosen), features=list(features), usage=list(usage), machine=human_machine(machine),
        charts=[_chart(Path(p)) for p in charts if p is not None and Path(p).is_file()],
    )  # fmt: skip
    atomic_write_text(out / "report.html", page)
    write_run_json(out, record, hardware)  # last, atomically: a run.json means the rest of the run is on disk
    return out / "report.html"
