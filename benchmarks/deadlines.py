"""Does every command end within its time budget? Wall time / budget for `fit`, `forecast`, `plan`, `compress`.

Each cell runs the command as a user does, in a fresh process (`python -m tightfit.cli ...`), and times it from
outside, start-up and report included. Workloads: `fit` on 2,000 and 50,000 rows x 25 features (scikit-learn's
make_classification: only the size matters here), `forecast` on 20, 200 and 2,000 monthly series of 120 points
(trend, a yearly season with a random phase, noise), `plan --time` on the bundled digits MLP
(`examples/plan_workload.py`), and `compress RUN_DIR --time` of a TinyTFM fitted on the 2,000-row table. Target
(issue #20): every cell <= 1.02 x budget + 2 s. One run per cell (a cell of the 5 min column takes 5 min); the
worst cell is printed with its command.

    python benchmarks/deadlines.py                      # budgets 15s,1min,5min (about 40 min)
    python benchmarks/deadlines.py --budgets 15s,1min   # a shorter sweep
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import machine, write
from sklearn.datasets import make_classification

from tightfit.units import parse_seconds

WORKLOADS = ("fit-2000", "fit-50000", "forecast-20", "forecast-200", "forecast-2000", "plan-digits", "compress-2000")
REPO = Path(__file__).resolve().parents[1]


def _table(rows: int, folder: Path) -> Path:
    X, y = make_classification(rows, 25, n_informative=10, random_state=0)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(25)]).assign(target=y)
    path = folder / f"table{rows}.csv"
    frame.to_csv(path, index=False)
    return path


def _series(count: int, folder: Path) -> Path:
    rng = np.random.default_rng(0)
    t = np.arange(120)
    dates = pd.date_range("2010-01-01", periods=120, freq="MS")
    frames = []
    for i in range(count):
        trend, phase = 0.05 * rng.normal(1, 0.3), rng.uniform(0, 6)
        y = 10 + trend * t + 3 * np.sin(2 * np.pi * t / 12 + phase) + rng.normal(0, 1, 120)
        frames.append(pd.DataFrame({"unique_id": f"s{i}", "ds": dates, "y": y}))
    path = folder / f"series{count}.csv"
    pd.concat(frames).to_csv(path, index=False)
    return path


def _fitted_run(data: Path, folder: Path) -> Path:
    """A run folder holding TinyTFM fitted on ``data`` (made once, outside the timed command)."""
    from tightfit.tabular import TabularPipeline

    run = folder / f"fitted-{data.stem}"
    if not (run / "model").exists():
        frame = pd.read_csv(data)
        TabularPipeline().fit(frame.drop(columns="target"), frame["target"]).save(run / "model")
    return run


def _command(workload: str, budget: str, folder: Path) -> list[str]:
    kind, size = workload.split("-")
    out = str(folder / f"run-{workload}-{budget}")
    if kind == "fit":
        data = _table(int(size), folder)
        return ["fit", str(data), "--target", "target", "--budget", f"time={budget}", "--out", out, "--quiet"]
    if kind == "plan":
        return ["plan", "--model", "examples.plan_workload:make", "--budget", "time=1h,device=cpu", "--config",
                "micro_batch=64,epochs=1", "--time", budget, "--out", out, "--quiet"]  # fmt: skip
    if kind == "compress":
        data = _table(int(size), folder)
        run = _fitted_run(data, folder)
        return ["compress", str(run), "--data", str(data), "--target", "target", "--time", budget, "--out", out,
                "--quiet"]  # fmt: skip
    data = _series(int(size), folder)
    return ["forecast", str(data), "--horizon", "12", "--season", "12", "--time", budget, "--out", out, "--quiet"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="15s,1min,5min")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    args = parser.parse_args()
    budgets = args.budgets.split(",")
    cells = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for workload in args.workloads.split(","):
            for budget in budgets:
                command = [sys.executable, "-m", "tightfit.cli", *_command(workload, budget, folder)]
                began = time.perf_counter()
                done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
                wall = time.perf_counter() - began
                seconds = parse_seconds(budget)
                chosen = next((line for line in done.stdout.splitlines() if line.startswith("chosen:")), "")
                cells.append({
                    "workload": workload, "budget": budget, "wall_s": round(wall, 2),
                    "ratio": round(wall / seconds, 3), "within_target": wall <= 1.02 * seconds + 2,
                    "exit": done.returncode, "chosen": chosen.split(";")[0].removeprefix("chosen: "),
                    "command": "tightfit " + " ".join(command[3:]),
                })  # fmt: skip
                cell = cells[-1]
                print(f"{workload:14s} {budget:>5s}  wall {wall:7.1f} s  ratio {cell['ratio']:.3f}  "
                      f"{'ok' if cell['within_target'] else 'OVER'}  exit {done.returncode}  {cell['chosen']}",
                      flush=True)  # fmt: skip
    worst = max(cells, key=lambda c: c["wall_s"] - (1.02 * parse_seconds(c["budget"]) + 2))
    print(f"worst cell: {worst['workload']} at {worst['budget']}: {worst['wall_s']} s ({worst['ratio']:.3f} x budget)"
          f" -- {worst['command']}")  # fmt: skip
    write("deadlines", {"machine": machine(), "threads": "all usable cores", "cells": cells, "worst": worst})


if __name__ == "__main__":
    main()
