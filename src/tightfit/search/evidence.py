"""When a measured difference is evidence: paired per-row losses, a gain taken only when it is clear.

A candidate that beats a default on a few validation rows often loses on new data (one window can favour any
forecaster, one fold any column subset). Both callers keep their default unless the candidate's per-row losses
are lower by more than ``standard_errors`` standard errors of the paired differences: the feature selection of
the in-context estimators and the forecast choice between the statistical mean and the best single model.
"""

from __future__ import annotations

import numpy as np

__all__ = ["clear_gain"]


def clear_gain(baseline: np.ndarray, candidate: np.ndarray, standard_errors: float = 2.0) -> float | None:
    """The mean per-row loss ``candidate`` saves against ``baseline`` (paired rows, the same length), when it is
    more than ``standard_errors`` standard errors of the differences; None otherwise, and with fewer than 2 rows
    (no spread to judge by)."""
    difference = np.asarray(baseline, dtype=float) - np.asarray(candidate, dtype=float)
    if difference.size < 2:
        return None
    error = difference.std(ddof=1) / np.sqrt(difference.size)
    return float(difference.mean()) if difference.mean() > standard_errors * error else None
