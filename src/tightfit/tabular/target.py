"""`clean_target(X, y, task)`: the target checked once, up front, before any model runs, with the fix named.

Rows whose target is missing (None, NaN, an empty or blank string) are dropped with a count in the notes; a
target that is missing everywhere, mixes text with numbers, or has a single class is a
:class:`~tightfit.errors.DataError` naming the column and the values — the data is the cause, so no candidate
should spend the budget finding out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tightfit.errors import DataError

__all__ = ["clean_target", "infer_task", "take_rows"]


def _name(y: Any) -> str:
    name = getattr(y, "name", None)
    return "y" if name is None else str(name)


def _missing(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind != "O":
        return np.zeros(len(values), dtype=bool)
    return np.array([v is None or v != v or (isinstance(v, str) and not v.strip()) for v in values.tolist()])


def infer_task(y: Any) -> str:
    """Classification for labels (strings, booleans, categories, or at most 20 distinct integers); else
    regression. ``y`` has no missing values (see :func:`clean_target`)."""
    y = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
    if y.dtype.kind in "OUSb" or str(y.dtype) == "category":
        return "classification"
    distinct = len(np.unique(y))
    integral = y.dtype.kind in "iu" or (y.dtype.kind == "f" and np.allclose(y % 1, 0))
    return "classification" if integral and distinct <= 20 else "regression"


def take_rows(X: Any, rows: Any) -> Any:
    """The ``rows`` (positions or a slice) of a table: a DataFrame by position, an array, or a list of rows."""
    return X.iloc[rows] if hasattr(X, "iloc") else X[rows] if hasattr(X, "shape") else np.asarray(X, object)[rows]


def clean_target(X: Any, y: Any, task: str = "auto") -> tuple[Any, np.ndarray, str, list[str]]:
    """``(X, y, task, notes)``: rows with a missing target dropped (noted), the task inferred when ``"auto"``.

    Examples
    --------
    >>> X, y, task, notes = clean_target([[1], [2], [3], [4]], ["a", None, "b", "a"])
    >>> y.tolist(), task, notes
    (['a', 'b', 'a'], 'classification', ["dropped 1 of 4 rows whose target 'y' is missing"])
    """
    name = _name(y)
    values = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
    if values.ndim != 1:
        raise DataError(f"the target {name!r} must be 1-dimensional (one value per row); got shape {values.shape}.")
    if len(values) != len(X):
        raise DataError(f"X has {len(X)} rows but the target {name!r} has {len(values)}; they must match.")
    notes = []
    missing = _missing(values)
    if missing.all():
        raise DataError(f"the target {name!r} is missing in all {len(values)} rows; nothing to learn from.")
    if missing.any():
        rows = np.flatnonzero(~missing)
        X = take_rows(X, rows)
        keep = ~missing
        values = values[keep]
        notes.append(f"dropped {int(missing.sum())} of {len(missing)} rows whose target {name!r} is missing")
    if values.dtype.kind == "O":
        texts = [v for v in values.tolist() if isinstance(v, str)]
        others = [v for v in values.tolist() if not isinstance(v, str)]
        if texts and others:
            raise DataError(
                f"the target {name!r} mixes text and other values (e.g. {texts[0]!r} and {others[0]!r}); make the "
                "column all text (labels) or all numbers."
            )
        if others and all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in others):
            values = values.astype(np.float64)
    task = infer_task(values) if task == "auto" else task
    if task == "classification":
        classes = np.unique(values.astype(str) if values.dtype.kind == "O" else values)
        if len(classes) < 2:
            raise DataError(
                f"the target {name!r} has a single class ({classes[0].item()!r}) in every labelled row; classification "
                "needs at least 2."
            )
    return X, values, task, notes
