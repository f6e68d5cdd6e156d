"""The default forecast's 80% interval: calibrated as the one forecast it is, against each member calibrated alone.

The default forecast is the equal mean of AutoETS, AutoTheta and AutoARIMA. Its interval is the mean of their own
bounds, widened by the conformal quantile of the combined forecast's reaches on the validation windows (the
Forecaster's, ``as one forecast``); before, each member's bounds were widened by its own reaches and then averaged
(``each member``). Both come from the *same* fit per case: the members' own bounds are predicted again from
``fc.fitted_``, and the per-member scales from ``fc.cv_``. Also shown: the members' own bounds averaged unscaled
(``own``), the combined scale applied both ways (``two-sided``: also below 1) and both ways but never below a floor
(``floor F``: max(F, scale); none passed its pre-registered check, README). Cases: each series whole and cut
to its last ``--lengths`` points; the last horizon is held out. Reported per part: the share of held-out points
inside the interval and its MSIS (M4's scaled interval score, lower is better); cases where a single model was
chosen count with its interval in every row. 2 threads.

    python benchmarks/forecast_intervals.py [--series benchmark|development|confirmation] [--lengths 60]
        [--budget 1min] [--short-budget 30s]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, write
from forecast import SERIES_SETS

from tightfit import Budget
from tightfit.timeseries import Forecaster, msis
from tightfit.timeseries.combine import combine_records
from tightfit.timeseries.intervals import conformal_quantile, reach_scale

THREADS = 2
# the combined scale applied both ways, never below the floor ("two-sided": no floor; reaches are never negative)
FLOORS = {"two-sided": 0.0} | {f"floor {f}": f for f in (0.5, 0.7, 0.85)}
HOWS = ("own", "each member", "as one forecast", *FLOORS)


def intervals(fc: Forecaster, train: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The 80% interval each way of :data:`HOWS` from one fitted default (one way when a single model was
    chosen)."""
    out = fc.predict()
    chosen = out[f"{fc.chosen_}-lo-80"].to_numpy(), out[f"{fc.chosen_}-hi-80"].to_numpy()
    if len(fc.members_) == 1:
        return dict.fromkeys(HOWS, chosen)
    weights = np.asarray(fc.weights_)
    own = [fc.fitted_[m].predict(train, fc.freq_, (80,)) for m in fc.members_]
    mean = weights @ np.stack([f["mean"].to_numpy() for f in own])
    below = weights @ np.stack([(f["mean"] - f["lo-80"]).to_numpy() for f in own])
    above = weights @ np.stack([(f["hi-80"] - f["mean"]).to_numpy() for f in own])
    scales = [reach_scale(fc.cv_[m].reaches["80"], 80) for m in fc.members_]
    each = [weights @ np.stack([(f["mean"] - s * (f["mean"] - f[side])).to_numpy()
                                for s, f in zip(scales, own, strict=True)])
            for side in ("lo-80", "hi-80")]  # fmt: skip
    reaches = combine_records(fc.cv_, fc.members_, fc.weights_).reaches["80"]
    both = float(conformal_quantile(reaches[np.isfinite(reaches)], 0.8))
    narrowed = {how: (mean - max(f, both) * below, mean + max(f, both) * above) for how, f in FLOORS.items()}
    return {"own": (mean - below, mean + above), "each member": tuple(each), "as one forecast": chosen, **narrowed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", choices=list(SERIES_SETS), default="benchmark")
    parser.add_argument("--lengths", default="60")
    parser.add_argument("--budget", default="1min")
    parser.add_argument("--short-budget", default="30s")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    warnings.simplefilter("ignore")
    rows = []
    for name, (frame, season, h) in SERIES_SETS[args.series]().items():
        for n in (None, *(int(v) for v in args.lengths.split(",") if int(v) < len(frame))):
            cut = frame if n is None else frame.iloc[-n:]
            train, test = cut.iloc[:-h], cut.iloc[-h:]
            history, truth = train["y"].to_numpy(), test["y"].to_numpy()
            budget = Budget.parse(f"time={args.budget if n is None else args.short_budget}")
            fc = Forecaster(h, season, budget=budget, level=(80,), verbose=False).fit(train)
            for how, (lo, hi) in intervals(fc, train).items():
                rows.append({"series": name, "length": n, "part": "whole" if n is None else "short", "how": how,
                             "chosen": fc.combination_.describe(),
                             "coverage_80": float(np.mean((truth >= lo) & (truth <= hi))),
                             "msis_80": msis(truth, lo, hi, history, fc.season_length_used_, 80)})  # fmt: skip
            print(f"== {name} {n or 'whole'}: {fc.combination_.describe()}", flush=True)
    table = pd.DataFrame(rows)
    summary = table.groupby(["part", "how"])[["coverage_80", "msis_80"]].mean().round(3)
    print(f"\n80% interval on the held-out horizon, mean over cases ({args.series}):\n{summary.to_string()}")
    print(f"budget {args.budget} per whole series, {args.short_budget} per cut; {THREADS} threads")
    path = write(
        f"forecast_intervals_{args.series}",
        {
            "machine": machine(),
            "threads": THREADS,
            "rows": rows,
            "summary": summary.reset_index().to_dict(orient="records"),
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
