"""Forecast accuracy, defined as in the M4 competition.

- MASE: mean absolute error over the horizon, scaled by the in-sample mean absolute error of the seasonal
  naive forecast (lag ``season_length``; lag 1 when it is 1 or the series is too short for a season).
- sMAPE: ``200 / h * sum(|y - f| / (|y| + |f|))`` in percent (Nixtla's ``smape`` is half of this).
- RMSE and MAE on the original scale.
- MSIS (intervals): the mean width of the ``level``% interval plus ``2 / alpha`` times how far each truth falls
  outside it, scaled like MASE: narrow intervals that miss pay for it, wide ones pay their width.
"""

from __future__ import annotations

import numpy as np

__all__ = ["forecast_scores", "mase", "mase_scale", "msis", "rmse", "smape"]


def mase_scale(y_train: np.ndarray, season_length: int) -> float:
    """MASE's denominator: the in-sample seasonal-naive mean absolute error (naive's when the history is shorter
    than a season); a constant history gives machine epsilon, so any error is infinitely worse than naive's zero."""
    y_train = np.asarray(y_train, dtype=float)
    lag = season_length if len(y_train) > season_length else 1
    scale = float(np.mean(np.abs(y_train[lag:] - y_train[:-lag])))
    return scale if scale > 0 else float(np.finfo(float).eps)


def mase(y_true: np.ndarray, y_pred: np.ndarray, y_train: np.ndarray, season_length: int) -> float:
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    return float(np.mean(np.abs(y_true - y_pred)) / mase_scale(y_train, season_length))


def msis(
    y_true: np.ndarray, lo: np.ndarray, hi: np.ndarray, y_train: np.ndarray, season_length: int, level: float
) -> float:
    """M4's mean scaled interval score of the ``level``% interval ``[lo, hi]`` (lower is better)."""
    y_true, lo, hi = (np.asarray(v, dtype=float) for v in (y_true, lo, hi))
    alpha = 1 - level / 100
    penalty = (2 / alpha) * (np.maximum(lo - y_true, 0) + np.maximum(y_true - hi, 0))
    return float(np.mean(hi - lo + penalty) / mase_scale(y_train, season_length))


def smape(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    denominator = np.abs(y_true) + np.abs(y_pred)
    ratio = np.divide(np.abs(y_true - y_pred), denominator, out=np.zeros_like(denominator), where=denominator > 0)
    return float(200 * np.mean(ratio))


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y_true, dtype=float) - np.asarray(y_pred, dtype=float)) ** 2)))


def forecast_scores(y_true: np.ndarray, y_pred: np.ndarray, scale: float) -> dict[str, float]:
    """Every metric of one forecast (one series, one window); ``scale`` is its history's :func:`mase_scale`."""
    errors = np.abs(np.asarray(y_true, dtype=float) - np.asarray(y_pred, dtype=float))
    return {"mase": float(np.mean(errors) / scale), "smape": smape(y_true, y_pred), "rmse": rmse(y_true, y_pred),
            "mae": float(np.mean(errors))}  # fmt: skip
