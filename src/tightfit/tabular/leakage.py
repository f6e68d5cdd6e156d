"""Columns that give the target away (target leakage): named in a note, never dropped, since only the user knows
whether a value is recorded before the target is.

A column leaks when it alone predicts the target almost exactly: for a numeric target, a rank correlation of
at least ``LEAK_RANK_CORRELATION`` (``logwage`` beside ``wage``: any monotone transform); for classes, a numeric
column that orders the two classes perfectly (ROC AUC 0 or 1), or a column of few values each of which only ever
occurs with one class (a ``status`` recorded after the outcome). A model's cross-validated score on such a table
is real, but it will not hold where the column is unknown at prediction time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["LEAK_RANK_CORRELATION", "leakage_note", "leaking_columns"]

LEAK_RANK_CORRELATION = 0.995
_MIN_ROWS = 20  # fewer rows present in a column: perfect agreement is too easy by chance
_MAX_ROWS = 20_000


def leaking_columns(X: pd.DataFrame, y: Any, task: str) -> dict[str, str]:
    """Column name -> the evidence that it alone predicts the target (see the module docstring)."""
    target = pd.Series(np.asarray(y), index=X.index)
    if len(X) > _MAX_ROWS:  # an exact leak is as exact on a sample, and the check stays well under a second
        X = X.sample(_MAX_ROWS, random_state=0)
        target = target.loc[X.index]
    found = {}
    for name in X.columns:
        column = X[name]
        present = column.notna() & target.notna()
        if present.sum() < _MIN_ROWS or column[present].nunique() < 2:
            continue
        values, labels = column[present], target[present]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        if task == "regression":
            rho = values.corr(labels.astype(float), method="spearman") if numeric else 0.0
            if abs(rho) >= LEAK_RANK_CORRELATION:
                found[str(name)] = f"rank correlation {rho:+.3f}"
        elif numeric and labels.nunique() == 2:
            from sklearn.metrics import roc_auc_score

            auc = roc_auc_score(labels == labels.iloc[0], values.rank())  # ranks: the same AUC, and inf is allowed
            if min(auc, 1 - auc) <= 1 - LEAK_RANK_CORRELATION:
                found[str(name)] = "orders the two classes perfectly"
        elif values.nunique() <= max(2, len(values) // 10) and (labels.groupby(values).nunique() == 1).all():
            found[str(name)] = f"each of its {values.nunique()} values occurs with one class only"
    return found


def leakage_note(found: dict[str, str]) -> str:
    listed = ", ".join(f"{name!r} ({why})" for name, why in found.items())
    return (f"possible target leakage: {listed} alone predict(s) the target almost exactly; if such a value is "
            "known only after the target, drop it: the scores here would not hold on new rows")  # fmt: skip
