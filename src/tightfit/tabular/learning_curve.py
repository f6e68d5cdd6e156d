"""`LearningCurve`: when to stop labelling — a power law fitted to the scores measured so far, with bootstrap
intervals, that predicts the score at N labels and how many labels a target score needs.

Learning curves of classifiers flatten like ``score(n) = a - b * n**(-c)`` (``a``: the score with unlimited
labels, at most ``ceiling``); the fit is least squares (``scipy.optimize.curve_fit``), and the interval comes from
refitting to ``n_boot`` resamples of the measured points (5th to 95th percentile), so a curve measured on few or
noisy points says how little it knows.

    curve = LearningCurve().fit([10, 20, 30, 40], [0.81, 0.88, 0.90, 0.92])
    curve.predict(100)       # Forecast(value, low, high)
    curve.labels_for(0.95)   # labels needed, with its interval (inf: the curve never gets there)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tightfit.errors import ConfigError, DataError
from tightfit.params import Interval, check

__all__ = ["Forecast", "LearningCurve"]

MIN_POINTS = 3


@dataclass(frozen=True)
class Forecast:
    """A predicted figure and its 90% bootstrap interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.4g} (90% interval {self.low:.4g} to {self.high:.4g})"


def _power_law(n, a, b, c):
    return a - b * np.power(n, -c)


class LearningCurve:
    """Fit ``score(n) = a - b n^-c`` to measured (labels, score) points; see the module docstring.

    Parameters
    ----------
    ceiling : float, default=1.0
        The best score possible (1 for ROC AUC and accuracy): ``a`` stays at or under it.
    n_boot : int, default=200
        Bootstrap refits behind each interval.
    random_state : int, default=0
    """

    def __init__(self, ceiling: float = 1.0, n_boot: int = 200, random_state: int = 0) -> None:
        check("LearningCurve", ceiling=(ceiling, float), n_boot=(n_boot, Interval(int, 10)),
              random_state=(random_state, Interval(int, 0)))  # fmt: skip
        self.ceiling, self.n_boot, self.random_state = ceiling, n_boot, random_state

    def fit(self, labels, scores) -> LearningCurve:
        """Fit to the scores measured at ``labels`` labelled rows (at least 3 distinct counts)."""
        n, s = np.asarray(labels, dtype=np.float64), np.asarray(scores, dtype=np.float64)
        if n.shape != s.shape or n.ndim != 1:
            raise DataError(f"labels and scores need the same length; got {n.shape} and {s.shape}.")
        if len(np.unique(n)) < MIN_POINTS or (n <= 0).any() or not np.isfinite(s).all():
            raise DataError(f"a learning curve needs scores at {MIN_POINTS} or more distinct positive label counts, "
                            f"all finite; got labels {n.tolist()} and scores {s.tolist()}.")  # fmt: skip
        self.labels_, self.scores_ = n, s
        self.params_ = self._fit(n, s)
        rng = np.random.default_rng(self.random_state)
        boots = []
        for _ in range(self.n_boot):
            pick = rng.choice(len(n), len(n))
            if len(np.unique(n[pick])) >= MIN_POINTS:
                boots.append(self._fit(n[pick], s[pick]))
        self.boot_params_ = np.array(boots)
        return self

    def _fit(self, n: np.ndarray, s: np.ndarray) -> np.ndarray:
        from scipy.optimize import curve_fit

        top = min(self.ceiling, s.max() + 1.0)
        start = (min(top, s.max() + 0.01), max(1e-3, (s.max() - s.min()) * n.min() ** 0.5), 0.5)
        try:
            params, _ = curve_fit(_power_law, n, s, p0=start, bounds=([s.min() - 1.0, 0.0, 0.01], [top, np.inf, 3.0]),
                                  maxfev=5000)  # fmt: skip
        except RuntimeError:  # no convergence: a flat curve at the mean
            params = np.array([s.mean(), 0.0, 1.0])
        return params

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise ConfigError("this LearningCurve is not fitted yet; call fit(labels, scores) first.")

    def predict(self, labels: float) -> Forecast:
        """The score expected at ``labels`` labelled rows, with its interval."""
        self._check_fitted()
        check("predict", labels=(labels, Interval(float, 0, closed="right")))
        boots = [_power_law(labels, *p) for p in self.boot_params_] or [_power_law(labels, *self.params_)]
        return Forecast(float(_power_law(labels, *self.params_)), *_interval(boots))

    def labels_for(self, target: float) -> Forecast:
        """The labelled rows the curve needs to reach ``target`` (``inf`` where it levels off below it)."""
        self._check_fitted()
        check("labels_for", target=(target, float))

        def needed(params) -> float:
            a, b, c = params
            if target >= a:
                return float("inf")
            return float(max(1.0, (b / (a - target)) ** (1.0 / c))) if b > 0 else 1.0

        boots = [needed(p) for p in self.boot_params_] or [needed(self.params_)]
        return Forecast(needed(self.params_), *_interval(boots))


def _interval(values) -> tuple[float, float]:
    """The 5th and 95th percentiles as observed values (no interpolation, so an infinite count stays inf)."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    last = len(ordered) - 1
    return float(ordered[int(np.floor(0.05 * last))]), float(ordered[int(np.ceil(0.95 * last))])
