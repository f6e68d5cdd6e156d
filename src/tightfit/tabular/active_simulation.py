"""`simulate`: active-learning strategies compared on a fully labelled table, side by side, through the search core.

A stratified quarter of the rows is held out; the rest is the pool, whose labels are revealed only for the rows a
strategy asks for. Each strategy starts the same way (the pool's k-means representatives, plus random rows
until two classes are labelled), then asks for ``batch_size`` rows per round; after every round the model is
fitted on the labelled rows and scored on the held-out quarter (ROC AUC). Each strategy is one entry of
:func:`tightfit.search.run_candidates`, so the result is a leaderboard like every other search's: quality = the
area under its learning curve (mean ROC AUC over the rounds), with the final score, the seconds per query round
and the :class:`~tightfit.tabular.learning_curve.LearningCurve` forecast of the score at twice the labels.
"""

from __future__ import annotations

import functools
import statistics
from typing import Any

import numpy as np

from tightfit.budget import Budget
from tightfit.errors import DataError
from tightfit.params import Interval, Options, check

__all__ = ["simulate"]

HELD_OUT = 0.25


def simulate(
    X: Any,
    y: Any,
    strategies: tuple[str, ...] = ("margin", "random"),
    model: Any = "TinyTFM",
    batch_size: int = 10,
    rounds: int = 8,
    budget: Budget | None = None,
    random_state: int = 0,
    verbose: bool = True,
):
    """Run each strategy's loop on ``(X, y)``; returns ``(leaderboard, curves)``, ``curves`` a DataFrame of
    (strategy, labels, roc_auc) rows. ``budget.labels`` ends every loop at that many labelled rows."""
    from sklearn.model_selection import train_test_split

    from tightfit.search import Entry, run_candidates
    from tightfit.tabular.active import STRATEGIES
    from tightfit.tabular.target import clean_target, take_rows

    check("simulate", batch_size=(batch_size, Interval(int, 1)), rounds=(rounds, Interval(int, 2)),
          budget=(budget, None, Budget), random_state=(random_state, Interval(int, 0)))  # fmt: skip
    for strategy in strategies:
        check("simulate", strategy=(strategy, Options(*STRATEGIES)))
    budget = budget or Budget()
    X, y, _, _ = clean_target(X, y, "classification")
    counts = np.unique(y.astype(str), return_counts=True)[1]
    if len(counts) < 2 or counts.min() < 2:
        raise DataError("simulate needs a labelled table with at least two classes of two rows or more each.")
    pool, held = train_test_split(np.arange(len(y)), test_size=HELD_OUT, random_state=random_state, stratify=y)
    data = (take_rows(X, pool), y[pool], take_rows(X, held), y[held])
    evaluate = functools.partial(_run_loop, data, model, batch_size, rounds, budget.labels, random_state)
    board = run_candidates([Entry(s, s) for s in strategies], Budget(), evaluate, executor="inline", applies=(),
                           entity="strategy", verbose=verbose)  # fmt: skip
    import pandas as pd

    curves = pd.DataFrame([{"strategy": e.name, "labels": n, "roc_auc": score}
                           for e in board.entries if e.measured is not None
                           for n, score in e.details["curve"]])  # fmt: skip
    return board, curves


def _run_loop(data, model, batch_size: int, rounds: int, labels_cap: int | None, seed: int, strategy: str, _left):
    """One strategy's loop; its learning curve and the figures the leaderboard shows."""
    from tightfit.measure import stopwatch
    from tightfit.search import Measured, Outcome
    from tightfit.tabular.active import ActiveLearner
    from tightfit.tabular.learning_curve import LearningCurve
    from tightfit.tabular.target import take_rows

    X_pool, y_pool, X_held, y_held = data
    learner = ActiveLearner(model, strategy=strategy, batch_size=batch_size, random_state=seed)
    rng = np.random.default_rng(seed)
    labelled = list(learner.suggest(X_pool).rows)  # the same cold start for every strategy
    while len(np.unique(y_pool[labelled])) < 2:
        labelled.append(int(rng.choice(np.setdiff1d(np.arange(len(y_pool)), labelled))))
    curve, round_s = [], []
    for _ in range(rounds):
        if labels_cap is not None and len(labelled) >= labels_cap:
            break
        n = batch_size if labels_cap is None else min(batch_size, labels_cap - len(labelled))
        unlabelled = np.setdiff1d(np.arange(len(y_pool)), labelled)  # the pool a user would pass: rows without labels
        suggestion, seconds = stopwatch(learner.suggest, take_rows(X_pool, unlabelled), take_rows(X_pool, labelled),
                                        y_pool[labelled], n=n)  # fmt: skip
        round_s.append(seconds)
        labelled += [int(r) for r in unlabelled[suggestion.rows]]
        curve.append((len(labelled), _held_out_auc(learner, take_rows(X_pool, labelled), y_pool[labelled], X_held,
                                                   y_held)))  # fmt: skip
    scores = [s for _, s in curve]
    extra = {"final_roc_auc": scores[-1], "labels": len(labelled), "round_s": statistics.median(round_s)}
    if len(curve) >= 3:
        forecast = LearningCurve().fit([n for n, _ in curve], scores).predict(2 * len(labelled))
        extra |= {"forecast_at_twice": forecast.value, "forecast_low": forecast.low, "forecast_high": forecast.high}
    measured = Measured(quality=float(np.mean(scores)), metric="learning_curve_auc", extra=extra)
    return Outcome(measured, details={"curve": curve, "labelled_rows": labelled})


def _held_out_auc(learner, X_labelled, y_labelled, X_held, y_held) -> float:
    from tightfit.tabular.metrics import classification_metrics

    fitted = learner.fit_model(X_labelled, y_labelled)
    return classification_metrics(y_held, fitted.predict_proba(X_held), fitted.classes_)["roc_auc_score"]
