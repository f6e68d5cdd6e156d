"""Decision rules: from class probabilities to labels, and the threshold that suits the metric the user cares about.

``"argmax"`` takes the most probable class; ``"balanced"`` divides each probability by its class's share of the
training rows first (a minority class is predicted when it is likelier than usual, not only when it is likelier
than the majority); a number ``t`` in (0, 1) predicts the second class of a binary task when its probability is at
least ``t``. :func:`tune_decision` picks the rule from out-of-fold probabilities for a metric such as F1 or
balanced accuracy — on an imbalanced table, argmax can score a high ROC AUC and an F1 of 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tightfit.errors import ConfigError
from tightfit.params import Interval, Options, check

__all__ = ["DECISION_METRICS", "check_decision", "decide", "tune_decision"]

DECISION_METRICS = ("accuracy", "balanced_accuracy", "f1_score", "mcc")
_THRESHOLDS = np.round(np.linspace(0.02, 0.98, 49), 2)  # with the out-of-fold probabilities' quantiles


def check_decision(decision: Any, owner: str) -> None:
    check(owner, decision=(decision, Options("argmax", "balanced"), Interval(float, 0, 1, closed="neither")))


def decide(proba: np.ndarray, classes: np.ndarray, decision: str | float, priors: np.ndarray) -> np.ndarray:
    """Labels for ``proba`` (columns in the order of ``classes``) under ``decision``."""
    if decision == "argmax":
        return classes[np.argmax(proba, axis=1)]
    if decision == "balanced":
        return classes[np.argmax(proba / np.clip(priors, 1e-12, None), axis=1)]
    if len(classes) != 2:
        raise ConfigError(
            f"decision={decision!r} (a threshold) needs a binary task; this one has {len(classes)} classes."
        )
    return np.where(proba[:, 1] >= decision, classes[1], classes[0])


def _score(metric: str, y: np.ndarray, predicted: np.ndarray, classes: np.ndarray) -> float:
    from sklearn import metrics

    if metric == "accuracy":
        return metrics.accuracy_score(y, predicted)
    if metric == "balanced_accuracy":
        return metrics.balanced_accuracy_score(y, predicted)
    if metric == "mcc":
        return metrics.matthews_corrcoef(y, predicted)
    binary = {"average": "binary", "pos_label": classes[1]} if len(classes) == 2 else {"average": "weighted"}
    return metrics.f1_score(y, predicted, zero_division=0, **binary)


def _binary_scores(metric: str, y: np.ndarray, positive: np.ndarray, classes: np.ndarray, thresholds) -> np.ndarray:
    """``metric`` of the rule "the second class when its probability >= t" for every threshold at once, from
    the confusion counts (one sort, not one scikit-learn call per threshold: 150 calls took ~1 s a candidate)."""
    is_pos = y == classes[1]
    pos, neg = np.sort(positive[is_pos]), np.sort(positive[~is_pos])
    thresholds = np.asarray(thresholds, dtype=float)
    tp = (len(pos) - np.searchsorted(pos, thresholds, side="left")).astype(float)
    fp = (len(neg) - np.searchsorted(neg, thresholds, side="left")).astype(float)
    fn, tn = len(pos) - tp, len(neg) - fp
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "accuracy":
            return (tp + tn) / len(y)
        if metric == "balanced_accuracy":
            recalls = [tp / len(pos)] if len(pos) else []
            recalls += [tn / len(neg)] if len(neg) else []
            return np.mean(recalls, axis=0)
        if metric == "mcc":
            denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
            return np.where(denominator > 0, (tp * tn - fp * fn) / denominator, 0.0)
        return np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)  # F1 of the second class


def tune_decision(
    y: np.ndarray, proba: np.ndarray, classes: np.ndarray, priors: np.ndarray, metric: str
) -> tuple[str | float, float]:
    """The decision rule with the best ``metric`` on ``(y, proba)`` (out-of-fold predictions) and its score:
    a threshold for a binary task (from a grid and the probabilities' own quantiles; ties go to the one nearest
    0.5), argmax or balanced otherwise."""
    check("tune_decision", metric=(metric, Options(*DECISION_METRICS)))
    if len(classes) == 2:  # a grid, plus the quantiles of the probabilities themselves (a rare class sits low)
        found = np.quantile(proba[:, 1], np.linspace(0.0, 1.0, 101))
        found = found[(found > 0) & (found < 1)]
        candidates = np.unique(np.concatenate([_THRESHOLDS, np.round(found, 6)]))
        rules: list[str | float] = sorted(candidates.tolist(), key=lambda t: abs(t - 0.5))
    else:
        rules = ["argmax", "balanced"]
    if len(classes) == 2:
        scores = _binary_scores(metric, y, proba[:, 1], classes, rules).tolist()
    else:
        scores = [_score(metric, y, decide(proba, classes, rule, priors), classes) for rule in rules]
    best = max((score, -i, rule) for i, (score, rule) in enumerate(zip(scores, rules, strict=True)))
    return best[2], float(best[0])
