"""Reuse vs refit: forecasting newer data with a saved model against fitting the model again on it.

A user who forecast last month gets one more season of data. Two ways to forecast the next horizon: refit the model
on the newer history (what a fit-and-forecast tool does) or load the saved fitted model and forecast from the newer
history (``Forecaster.predict(new_history)``: statsforecast's ``forward`` with the fitted parameters, LightGBM's
booster, a network's lookback). Panel: 100 synthetic monthly series (level, trend, yearly season, noise; seed 0),
132 points each: fitted on the first 108, newer history 120, truth the last 12. Per model: seconds of each way
(median of 3 interleaved repeats; reuse includes loading the saved folder) and test MASE of each. 2 threads.

    python benchmarks/forecast_reuse.py [--series 100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, write

from tightfit.measure import stopwatch
from tightfit.timeseries import Forecaster, mase

THREADS = 2
MODELS = ["AutoETS", "AutoTheta", "LightGBM", "DLinear"]
H, SEASON, FIT_POINTS, NEW_POINTS = 12, 12, 108, 120


def panel(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(NEW_POINTS + H)
    frames = []
    for i in range(n):
        level, trend, amplitude = rng.uniform(50, 500), rng.normal(0, 0.3), rng.uniform(0.05, 0.3)
        y = level + trend * t
        season = 1 + amplitude * np.sin(2 * np.pi * (t + rng.integers(12)) / SEASON)
        y = y * season + rng.normal(0, 0.03 * level, len(t))
        ds = pd.date_range("2010-01-01", periods=len(t), freq="MS")
        frames.append(pd.DataFrame({"unique_id": f"s{i:03d}", "ds": ds, "y": y}))
    return pd.concat(frames, ignore_index=True)


def test_mase(forecast: pd.DataFrame, column: str, truth: pd.DataFrame, history: pd.DataFrame) -> float:
    scores = []
    for uid, group in truth.groupby("unique_id"):
        guess = forecast.loc[forecast["unique_id"] == uid, column].to_numpy()
        scores.append(mase(group["y"].to_numpy(), guess, history.loc[history["unique_id"] == uid, "y"].to_numpy(),
                           SEASON))  # fmt: skip
    return float(np.mean(scores))


def refit_and_forecast(options: dict, history: pd.DataFrame) -> pd.DataFrame:
    return Forecaster(**options).fit(history).predict()


def load_and_forecast(folder: Path, history: pd.DataFrame) -> pd.DataFrame:
    return Forecaster.load(folder).predict(history)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    warnings.simplefilter("ignore")
    data = panel(args.series)
    position = data.groupby("unique_id").cumcount()
    old, newer, truth = data[position < FIT_POINTS], data[position < NEW_POINTS], data[position >= NEW_POINTS]
    rows = []
    for name in MODELS:
        options = {"horizon": H, "season_length": SEASON, "models": [name], "n_windows": 1, "verbose": False}
        folder = Path(tempfile.mkdtemp()) / "model"
        Forecaster(**options).fit(old).save(folder)
        refit_s, reuse_s = [], []
        for _ in range(args.repeats):  # interleaved: both ways see the same machine state
            refit, seconds = stopwatch(refit_and_forecast, options, newer)
            refit_s.append(seconds)
            reused, seconds = stopwatch(load_and_forecast, folder, newer)
            reuse_s.append(seconds)
        row = {"model": name, "refit_s": float(np.median(refit_s)), "reuse_s": float(np.median(reuse_s)),
               "refit_mase": test_mase(refit, name, truth, newer),
               "reuse_mase": test_mase(reused, name, truth, newer)}  # fmt: skip
        row["speedup"] = row["refit_s"] / row["reuse_s"]
        rows.append(row)
        print(f"{name}: refit {row['refit_s']:.2f} s (MASE {row['refit_mase']:.3f}), reuse {row['reuse_s']:.2f} s "
              f"(MASE {row['reuse_mase']:.3f}): {row['speedup']:.1f}x", flush=True)  # fmt: skip
    table = pd.DataFrame(rows)
    print(f"\n{args.series} series, horizon {H}, median of {args.repeats}, {THREADS} threads\n"
          + table.round(3).to_string(index=False))  # fmt: skip
    path = write("forecast_reuse", {"machine": machine(), "threads": THREADS, "series": args.series,
                                    "repeats": args.repeats, "rows": rows})  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
