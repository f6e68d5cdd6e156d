"""Held-out metrics of a tabular model: the ones TabTune's ``evaluate`` reports, plus calibration.

Classification metrics take the predicted probabilities (columns in the order of ``classes``), so that
ROC AUC, log loss, Brier score and expected calibration error (ECE) are computed from the same numbers as
the label metrics. Binary F1/precision/recall are of the second class; multiclass ones are weighted means.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["METRIC_NAMES", "calibration", "classification_metrics", "regression_metrics"]

METRIC_NAMES = {  # what classification_metrics / regression_metrics return, by task
    "classification": ("accuracy", "balanced_accuracy", "roc_auc_score", "f1_score", "precision", "recall", "mcc",
                       "log_loss", "brier_score", "ece"),
    "regression": ("r2", "rmse", "mae", "median_ae", "mape"),
}  # fmt: skip


def calibration(y_true: np.ndarray, proba: np.ndarray, classes: np.ndarray, n_bins: int = 10) -> dict[str, Any]:
    """Top-label calibration in ``n_bins`` equal-width confidence bins: ECE (bin-weighted mean gap between
    confidence and accuracy), MCE (largest gap), Brier score and the bins themselves."""
    confidence = proba.max(axis=1)
    correct = classes[proba.argmax(axis=1)] == y_true
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    bins, ece, mce = [], 0.0, 0.0
    for b in range(n_bins):
        members = which == b
        if not members.any():
            continue
        gap = abs(float(confidence[members].mean()) - float(correct[members].mean()))
        ece += gap * members.mean()
        mce = max(mce, gap)
        bins.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "count": int(members.sum()),
                "confidence": float(confidence[members].mean()),
                "accuracy": float(correct[members].mean()),
            }
        )
    return {"ece": float(ece), "mce": float(mce), "brier_score": _brier(y_true, proba, classes), "bins": bins}


def _brier(y_true: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    """Multiclass Brier score: mean over rows of the squared distance to the one-hot truth (binary: the
    usual score of the positive class, which is half of that)."""
    onehot = (y_true[:, None] == classes[None, :]).astype(float)
    score = float(((proba - onehot) ** 2).sum(axis=1).mean())
    return score / 2 if len(classes) == 2 else score


def classification_metrics(
    y_true: Any, proba: np.ndarray, classes: np.ndarray, y_pred: np.ndarray | None = None
) -> dict[str, float]:
    """Probability metrics from ``proba``; label metrics from ``y_pred`` (default: the most probable class)."""
    from sklearn import metrics

    y_true = np.asarray(y_true)
    proba = np.clip(np.asarray(proba, dtype=float), 0.0, 1.0)
    proba = proba / np.clip(proba.sum(axis=1, keepdims=True), 1e-12, None)
    y_pred = classes[proba.argmax(axis=1)] if y_pred is None else np.asarray(y_pred)
    binary = len(classes) == 2
    averaging = {"average": "binary", "pos_label": classes[1]} if binary else {"average": "weighted"}
    present = np.isin(classes, y_true)
    if binary:
        roc_auc = metrics.roc_auc_score(y_true == classes[1], proba[:, 1]) if present.all() else float("nan")
    elif present.sum() >= 2:
        columns = proba[:, present] / np.clip(proba[:, present].sum(axis=1, keepdims=True), 1e-12, None)
        if present.sum() == 2:  # two classes left in the test rows: a binary AUC between them
            roc_auc = metrics.roc_auc_score(y_true == classes[present][1], columns[:, 1])
        else:
            roc_auc = metrics.roc_auc_score(y_true, columns, multi_class="ovr", labels=classes[present])
    else:
        roc_auc = float("nan")
    return {
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(metrics.balanced_accuracy_score(y_true, y_pred)),
        "roc_auc_score": float(roc_auc),
        "f1_score": float(metrics.f1_score(y_true, y_pred, zero_division=0, **averaging)),
        "precision": float(metrics.precision_score(y_true, y_pred, zero_division=0, **averaging)),
        "recall": float(metrics.recall_score(y_true, y_pred, zero_division=0, **averaging)),
        "mcc": float(metrics.matthews_corrcoef(y_true, y_pred)),
        "log_loss": float(metrics.log_loss(y_true, np.clip(proba, 1e-15, 1.0), labels=classes)),
        "brier_score": _brier(y_true, proba, classes),
        "ece": calibration(y_true, proba, classes)["ece"],
    }


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    from sklearn import metrics

    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    nonzero = np.abs(y_true) > 1e-12
    mape = float(np.mean(np.abs((y_true - y_pred)[nonzero] / y_true[nonzero]))) if nonzero.any() else float("nan")
    return {
        "r2": float(metrics.r2_score(y_true, y_pred)),
        "rmse": float(np.sqrt(metrics.mean_squared_error(y_true, y_pred))),
        "mae": float(metrics.mean_absolute_error(y_true, y_pred)),
        "median_ae": float(metrics.median_absolute_error(y_true, y_pred)),
        "mape": mape,
    }
