"""Short-history forecasting: each low-data technique against the same model without it, side by side.

The benchmark series of ``forecast.py`` (7, bundled with statsmodels) truncated to their last 40, 60 and 100
points; the last horizon is held out and forecast from the rest. Techniques, each beside its plain model:
augmentation (DLinear and N-HiTS trained on augmented windows too: ``SHORT_AUGMENT``, and the same with FrAug's
frequency mixing added), transfer (``+pretrained``: pretrained on the series' own earlier history, the points
before the truncation, as a stand-in for related series, then fine-tuned), and combination (``Forecaster``'s
auto choice alone vs ``ensemble="auto"``). Reported: test MASE (M4), relative to seasonal naive's on the same
cut, and the geometric mean ratio technique / plain over the cuts. 2 threads.
``--each``: instead, each augmentation of ``SHORT_AUGMENT`` alone (at its probability there; frequency mixing at
0.3) beside the plain model, written to ``forecast_short_each.json``.

    python benchmarks/forecast_short.py [--lengths 40,60,100] [--budget 30s] [--each]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, write
from forecast import held_out_forecasts, load_series

from tightfit import Budget
from tightfit.timeseries import Augmenter, Forecaster, mase
from tightfit.timeseries.forecaster import SHORT_AUGMENT
from tightfit.timeseries.models import NeuralForecaster, StatsModel

THREADS = 2
WITH_FREQ_MIX = dataclasses.replace(SHORT_AUGMENT, freq_mix=0.3)
ONE_AUGMENTATION = {name: Augmenter(**{name: getattr(SHORT_AUGMENT, name)})
                    for name in ("jitter", "scaling", "magnitude_warp", "time_warp", "window_slice")}  # fmt: skip
ONE_AUGMENTATION["freq_mix"] = Augmenter(freq_mix=WITH_FREQ_MIX.freq_mix)


def variants(related: pd.DataFrame, each: bool = False) -> dict[str, tuple[str, object]]:
    """label -> (technique, model); the technique's plain model is the label's first word."""
    out: dict[str, tuple[str, object]] = {"SeasonalNaive": ("baseline", StatsModel("SeasonalNaive"))}
    for name in ("DLinear", "NHITS"):
        out[name] = ("plain", NeuralForecaster(name))
        if each:
            out |= {f"{name} {aug}": (aug, NeuralForecaster(name, augment=a)) for aug, a in ONE_AUGMENTATION.items()}
            continue
        out[f"{name} augment"] = ("augment", NeuralForecaster(name, augment=SHORT_AUGMENT))
        out[f"{name} augment+freq_mix"] = ("augment+freq_mix", NeuralForecaster(name, augment=WITH_FREQ_MIX))
        if related is not None:
            out[f"{name} pretrained"] = ("transfer", NeuralForecaster(f"{name}+pretrained", pretrain=related))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="40,60,100")
    parser.add_argument("--budget", default="30s")
    parser.add_argument("--each", action="store_true", help="each augmentation alone against the plain model")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    warnings.simplefilter("ignore")
    rows = []
    for name, (frame, season, h) in load_series().items():
        for n in (int(v) for v in args.lengths.split(",")):
            cut = frame.iloc[-n:]
            train, test = cut.iloc[:-h], cut.iloc[-h:]
            related = frame.iloc[:-n].assign(unique_id=f"{name}-earlier") if len(frame) - n >= 2 * h + 16 else None
            history, truth = train["y"].to_numpy(), test["y"].to_numpy()
            use_season = season if len(train) >= 2 * season else 1
            print(f"== {name} last {n}: {len(train)} to fit, horizon {h}", flush=True)
            techniques = variants(related, args.each)
            models = ((label, model) for label, (_, model) in techniques.items())
            for label, (guess, _) in held_out_forecasts(models, train, h, use_season).items():
                rows.append({"series": name, "length": n, "model": label, "technique": techniques[label][0],
                             "mase": mase(truth, guess, history, use_season)})  # fmt: skip
            for label, ensemble in () if args.each else (("auto", None), ("auto+combine", "auto")):
                began = time.perf_counter()
                fc = Forecaster(h, season, budget=Budget.parse(f"time={args.budget}"), ensemble=ensemble,
                                verbose=False).fit(train)  # fmt: skip
                guess = fc.predict()[fc.chosen_].to_numpy()
                rows.append({"series": name, "length": n, "model": label, "technique": "combine" if ensemble else
                             "plain", "mase": mase(truth, guess, history, use_season),
                             "chose": fc.combination_.describe(), "seconds": time.perf_counter() - began})  # fmt: skip
                print(f"   {label}: {fc.combination_.describe()} MASE {rows[-1]['mase']:.3f}", flush=True)
    table = pd.DataFrame(rows)
    base = table[table["model"] == "SeasonalNaive"].set_index(["series", "length"])["mase"]
    table["mase_rel"] = table["mase"] / [base[key] for key in zip(table["series"], table["length"], strict=True)]
    pd.set_option("display.width", 220)
    wide = table.pivot_table(index=["series", "length"], columns="model", values="mase_rel")
    print("\nMASE relative to seasonal naive on the same cut:\n" + wide.round(3).to_string())
    summary = []
    techniques = [*ONE_AUGMENTATION] if args.each else ["augment", "augment+freq_mix", "pretrained"]
    pairs = [(f"{m} {t}", m) for m in ("DLinear", "NHITS") for t in techniques]
    for technique, plain in [*pairs, ("auto+combine", "auto")]:
        if technique not in wide:
            continue
        both = wide[[technique, plain]].dropna()
        for n in (*sorted(both.index.get_level_values("length").unique()), "all"):
            part = both if n == "all" else both.xs(n, level="length")
            ratio = float(np.exp(np.mean(np.log(part[technique] / part[plain]))))
            wins = int((part[technique] < part[plain]).sum())
            summary.append({"technique": technique, "against": plain, "length": n, "geo_mean_ratio": ratio,
                            "wins": wins, "cuts": len(part)})  # fmt: skip
    summary = pd.DataFrame(summary)
    print("\ntechnique / plain (geometric mean of MASE ratios; < 1 is better):\n" + summary.round(3).to_string())
    if not args.each:
        naive_beaten = table[table["model"] == "auto+combine"].set_index(["series", "length"])["mase_rel"] < 1
        print(f"\nauto+combine beats seasonal naive on {int(naive_beaten.sum())}/{len(naive_beaten)} cuts")
    print(f"{THREADS} threads")
    results = {"machine": machine(), "threads": THREADS, "budget": args.budget, "rows": table.to_dict(orient="records"),
               "summary": summary.to_dict(orient="records")}  # fmt: skip
    path = write("forecast_short_each" if args.each else "forecast_short", results)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
