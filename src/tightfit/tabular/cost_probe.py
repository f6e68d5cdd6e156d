"""Order AutoFit's candidates by their predicted cost on this table, measured on a small sample.

A fixed order (TinyTFM zero-shot first) is cheapest on a few hundred rows and the most expensive on 20,000:
there TinyTFM spent a 20 s budget alone and logistic regression, 0.2 s on that table, never ran. Before the
search, each candidate that trains without a time budget of its own (zero-shot and classical models) fits
and predicts ``PROBE_ROWS`` sampled rows, in this process, after an untimed warm-up on ``WARMUP_ROWS`` (the
first call pays imports and one-time set-up, not per-row cost); its cost on the whole search is predicted as
that time scaled linearly to the table's rows and to the ``cv`` folds plus the refit (a rough figure: fixed
costs make it high for fast models, which does not change the order). Fine-tunes, which spend whatever
share of time they are given, keep their place after them. Tables of up to ``2 * PROBE_ROWS`` rows keep the
registry order: every candidate is cheap there, and the probe would cost more than it saves (on 2,000 rows
under 15 s, TinyTFM zero-shot first in that order was still running at the deadline: no model).

Under a time budget the probe itself spends at most ``PROBE_SHARE`` of the time left: a candidate whose
warm-up says its probe would overrun that share (the probe reads ``PROBE_ROWS / WARMUP_ROWS`` times the rows) is
not probed, and goes after the probed ones, ordered by its warm-up; those not even warmed up come last. Unbounded,
modeldata's leaf_id_flavia (1,907 rows, 32 classes: TinyTFM codes each class in turn) spent 56 s of a 1-minute
budget probing, and no candidate ran; bounded, logistic regression, LightGBM and Random Forest ran (RF chosen).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from tightfit.tabular.candidates import Candidate

__all__ = ["PROBE_ROWS", "order_by_probe"]

log = logging.getLogger(__name__)

PROBE_ROWS = 500
WARMUP_ROWS = 60
PROBE_SHARE = 0.1  # of the time left: ordering the candidates must not spend the time they need to run


def order_by_probe(
    candidates: list[Candidate], X: Any, y: np.ndarray, task: str, cv: int, seed: int, seconds: float | None = None
) -> tuple[list[Candidate], dict[str, float]]:
    """``candidates`` cheapest first on this table, and each probed one's predicted search cost in seconds
    (a candidate whose probe fails is placed last among the probed: its own run reports why). ``seconds``: the
    time left, of which the probe spends at most ``PROBE_SHARE``; None: no bound."""
    from tightfit.measure import stopwatch
    from tightfit.tabular.pipeline import TabularPipeline
    from tightfit.tabular.target import take_rows

    if len(y) <= 2 * PROBE_ROWS:
        return list(candidates), {}
    rows = np.random.default_rng(seed).choice(len(y), PROBE_ROWS, replace=False)
    sample_X = take_rows(X, rows)
    sample_y = y[rows]
    predicted: dict[str, float] = {}
    warmed: dict[str, float] = {}  # candidates whose warm-up said their probe would overrun the share: its seconds
    allowance = float("inf") if seconds is None else PROBE_SHARE * seconds
    spent = 0.0
    for candidate in candidates:
        if candidate.tuning_strategy != "inference" or spent >= allowance:
            continue

        def build(c=candidate):
            return TabularPipeline(c.model_name, task_type=task, model_params=c.model_params)

        try:
            _, warm = stopwatch(_fit_and_predict, build(), take_rows(sample_X, slice(WARMUP_ROWS)),
                                sample_y[:WARMUP_ROWS], task)  # fmt: skip
            spent += warm
            if spent + warm * PROBE_ROWS / WARMUP_ROWS > allowance:
                warmed[candidate.label] = warm  # not probed: its probe would spend what the search needs
                continue
            _, probe = stopwatch(_fit_and_predict, build(), sample_X, sample_y, task)
            spent += probe
        except Exception as exc:  # the search runs it for real and reports the failure
            log.info("cost probe of %s failed: %s", candidate.label, exc)
            probe = float("inf")
        predicted[candidate.label] = probe * len(y) / PROBE_ROWS * (cv + 1)
    probed = sorted((c for c in candidates if c.label in predicted), key=lambda c: predicted[c.label])
    by_warm_up = sorted((c for c in candidates if c.label in warmed), key=lambda c: warmed[c.label])
    rest = [c for c in candidates if c.label not in predicted and c.label not in warmed]
    return probed + by_warm_up + rest, predicted


def _fit_and_predict(pipe, X, y, task: str) -> None:
    pipe.fit(X, y)
    (pipe.predict_proba if task == "classification" else pipe.predict)(X)
