"""Prediction intervals for any regression model from its cross-validated errors (CV+ in its simplest form).

AutoFit scores every candidate by K-fold cross-validation; the absolute out-of-fold errors of the chosen one are
kept (:func:`residual_grid`) and an interval of coverage ``c`` is the prediction plus or minus their conformal
quantile, the ``ceil((n + 1) c)``-th smallest of ``n``. The folds' models saw (K-1)/K of the rows the final
model saw, so the widths lean wide; the coverage is measured on held-out rows in the tests.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["KEPT_RESIDUALS", "half_width", "residual_grid"]

KEPT_RESIDUALS = 1000  # more out-of-fold errors are kept as this many evenly spaced quantiles (a saved run stays small)


def residual_grid(residuals: np.ndarray) -> np.ndarray:
    """The sorted absolute errors, or ``KEPT_RESIDUALS`` evenly spaced quantiles of them."""
    errors = np.sort(np.abs(np.asarray(residuals, dtype=np.float64)))
    if len(errors) <= KEPT_RESIDUALS:
        return errors
    return np.quantile(errors, np.linspace(0, 1, KEPT_RESIDUALS))


def half_width(grid: np.ndarray, coverage: float) -> float:
    """The conformal quantile of the kept errors for ``coverage``: the ``ceil((n + 1) coverage)``-th smallest,
    infinite when there are too few errors for that coverage."""
    rank = math.ceil((len(grid) + 1) * coverage)
    return float(grid[rank - 1]) if rank <= len(grid) else math.inf
