"""Active learning on the 10 real tables of ``tabular_tfm.py``: margin sampling against random, side by side.

Protocol per table and seed: a stratified 30% is held out (at most 1,000 rows), the rest is the pool (at most 2,000
rows); every method starts from the same 10 random labelled rows (two classes at least), then asks for 10 rows
per round up to 100 labels; after each round the model is fitted on the labelled rows and scored on the held-out
rows (ROC AUC, one-vs-rest macro for multiclass). Methods, in the same run: margin + TinyTFM (``ActiveLearner``,
the context grows, no retraining), random + TinyTFM, margin + LightGBM (retrained every round), random + logistic
regression. Reported per table: the area under each learning curve (mean ROC AUC over 10..100 labels), the labels
each TinyTFM method needs to reach 95% of the ROC AUC of TinyTFM on the whole pool, and the stopping rule's
forecast (``LearningCurve`` fitted on 10..50 labels) of the score at 100 labels against the measured one, and the
headroom: TinyTFM's ROC AUC on the whole pool minus random sampling's area — the most any strategy could gain
(a table whose headroom is under 0.02 cannot show a 0.02 gain). Plus the median seconds of one margin round on a
5,000-row pool, scoring the default ``max_scored`` sample and every row. 2 threads.

    python benchmarks/active.py [--seeds 5] [--datasets breast_cancer,wine]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, write
from tabular_tfm import datasets, models

from tightfit.tabular import ActiveLearner, LearningCurve, TabularPipeline
from tightfit.tabular.target import take_rows

THREADS = 2
START, STEP, LAST = 10, 10, 100
POOL_CAP, HELD_CAP = 2000, 1000


def _auc(model, X, y, labels) -> float:
    proba = np.asarray(model.predict_proba(X))
    full = np.zeros((len(y), len(labels)))
    full[:, np.searchsorted(labels, np.asarray(model.classes_))] = proba
    if len(labels) == 2:
        return roc_auc_score(y, full[:, 1])
    return roc_auc_score(y, full / full.sum(1, keepdims=True), multi_class="ovr", labels=labels)


def _split(y: np.ndarray, seed: int):
    rows = np.arange(len(y))
    pool, held = train_test_split(rows, test_size=0.3, stratify=y, random_state=seed)
    if len(pool) > POOL_CAP:
        pool, _ = train_test_split(pool, train_size=POOL_CAP, stratify=y[pool], random_state=seed)
    if len(held) > HELD_CAP:
        held, _ = train_test_split(held, train_size=HELD_CAP, stratify=y[held], random_state=seed)
    return pool, held


def _start(y_pool: np.ndarray, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    while True:
        first = list(rng.choice(len(y_pool), START, replace=False))
        if len(np.unique(y_pool[first])) >= 2:
            return first


def _curve(learner: ActiveLearner, X_pool, y_pool, X_held, y_held, labels, first: list[int]) -> list[float]:
    labelled, scores = list(first), []
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = learner.fit_model(take_rows(X_pool, labelled), y_pool[labelled])
            scores.append(_auc(model, X_held, y_held, labels))
            if len(labelled) >= LAST:
                return scores
            unlabelled = np.setdiff1d(np.arange(len(y_pool)), labelled)  # the pool holds the rows without labels
            suggestion = learner.suggest(take_rows(X_pool, unlabelled), take_rows(X_pool, labelled), y_pool[labelled],
                                         n=STEP)  # fmt: skip
            labelled += [int(r) for r in unlabelled[suggestion.rows]]


def _labels_to_reach(scores: list[float], target: float) -> float:
    counts = range(START, LAST + 1, STEP)
    return next((n for n, s in zip(counts, scores, strict=True) if s >= target), float("inf"))


def evaluate(name: str, X, y, seeds: int) -> list[dict]:
    labels = np.unique(y)
    out = []
    for seed in range(seeds):
        pool, held = _split(y, seed)
        X_pool, y_pool = take_rows(X, pool).reset_index(drop=True), y[pool]
        X_held, y_held = take_rows(X, held), y[held]
        first = _start(y_pool, seed)
        baselines = models(X)
        methods = {
            "margin + TinyTFM": ActiveLearner("TinyTFM", "margin", random_state=seed),
            "random + TinyTFM": ActiveLearner("TinyTFM", "random", random_state=seed),
            "margin + LightGBM": ActiveLearner(baselines["LightGBM"](), "margin", random_state=seed),
            "random + LogisticRegression": ActiveLearner(
                baselines["LogisticRegression"](), "random", random_state=seed
            ),
        }
        full = _auc(TabularPipeline("TinyTFM").fit(X_pool, y_pool), X_held, y_held, labels)
        row = {"dataset": name, "seed": seed, "full_pool_tinytfm": full}
        for method, learner in methods.items():
            scores = _curve(learner, X_pool, y_pool, X_held, y_held, labels, first)
            row[method] = {"curve": scores, "aulc": float(np.mean(scores)),
                           "labels_to_95": _labels_to_reach(scores, 0.95 * full)}  # fmt: skip
        margin = row["margin + TinyTFM"]["curve"]
        forecast = LearningCurve().fit(list(range(START, 51, STEP)), margin[:5]).predict(LAST)
        row["forecast_at_100"] = {"value": forecast.value, "low": forecast.low, "high": forecast.high,
                                  "measured": margin[-1]}  # fmt: skip
        out.append(row)
        print(name, seed, {m: round(row[m]["aulc"], 4) for m in methods}, flush=True)
    return out


def round_seconds(repeats: int = 5) -> dict[str, float]:
    """One margin round (fit on 100 labelled rows + scoring a 5,000-row pool) with TinyTFM, median seconds: the
    default (a ``max_scored`` sample) and every row scored, interleaved."""
    from sklearn.datasets import make_classification

    X, y = make_classification(5100, 20, n_informative=10, random_state=0)
    learners = {"default": ActiveLearner("TinyTFM", "margin"), "every_row": ActiveLearner("TinyTFM", max_scored=None)}
    times = {name: [] for name in learners}
    for _ in range(repeats):
        for name, learner in learners.items():
            started = time.perf_counter()
            learner.suggest(X[100:], X[:100], y[:100])
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(t) for name, t in times.items()}


def _standard_error(values: list[float]) -> float | None:
    """Of the mean over seeds: how far a table's margin - random gap can move by chance."""
    return float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else None


def summary(rows: list[dict]) -> dict:
    tables = sorted({r["dataset"] for r in rows})
    per_table = {}
    for table in tables:
        mine = [r for r in rows if r["dataset"] == table]

        def mean(method: str, key: str, subset=mine) -> float:
            return float(np.mean([r[method][key] for r in subset]))

        margin_need = statistics.median(r["margin + TinyTFM"]["labels_to_95"] for r in mine)
        random_need = statistics.median(r["random + TinyTFM"]["labels_to_95"] for r in mine)
        forecast = np.mean([r["forecast_at_100"]["value"] - r["forecast_at_100"]["measured"] for r in mine])
        headroom = np.mean([r["full_pool_tinytfm"] - r["random + TinyTFM"]["aulc"] for r in mine])
        gaps = [r["margin + TinyTFM"]["aulc"] - r["random + TinyTFM"]["aulc"] for r in mine]
        per_table[table] = {
            "aulc": {
                m: mean(m, "aulc")
                for m in ("margin + TinyTFM", "random + TinyTFM", "margin + LightGBM", "random + LogisticRegression")
            },
            "margin_minus_random_tinytfm": mean("margin + TinyTFM", "aulc") - mean("random + TinyTFM", "aulc"),
            "margin_minus_random_se": _standard_error(gaps),
            "labels_to_95_margin": margin_need,
            "labels_to_95_random": random_need,
            "forecast_error_at_100": float(forecast),
            "headroom": float(headroom),
        }
    gains = [t["margin_minus_random_tinytfm"] for t in per_table.values()]
    ratios = [t["labels_to_95_margin"] / t["labels_to_95_random"] for t in per_table.values()
              if np.isfinite(t["labels_to_95_random"]) and t["labels_to_95_random"] > 0]  # fmt: skip
    return {
        "tables": per_table,
        "margin_beats_random_by_0.02": sum(g >= 0.02 for g in gains),
        "margin_beats_random": sum(g > 0 for g in gains),
        "tables_with_headroom_0.02": sum(t["headroom"] >= 0.02 for t in per_table.values()),
        "median_labels_ratio_margin_over_random": statistics.median(ratios) if ratios else None,
        "forecast_within_0.02": sum(abs(t["forecast_error_at_100"]) <= 0.02 for t in per_table.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--datasets", help="comma-separated subset of the tables")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    tables = datasets()
    chosen = args.datasets.split(",") if args.datasets else list(tables)
    started = time.perf_counter()
    rows = []
    for name in chosen:
        X, y = tables[name]()
        rows += evaluate(name, X, np.asarray(y), args.seeds)
    result = {"machine": machine(), "threads": THREADS, "seeds": args.seeds, "seconds": time.perf_counter() - started,
              "round_seconds_5000_pool": round_seconds(), "summary": summary(rows), "rows": rows}  # fmt: skip
    print({k: v for k, v in result["summary"].items() if k != "tables"}, result["round_seconds_5000_pool"])
    write("active", result)


if __name__ == "__main__":
    main()
