"""Which columns an in-context estimator reads of a narrow table, chosen by held-out loss on its own context.

A small tabular foundation model is distracted by columns that add nothing to the others, where a linear model
or a tree ignores them: on ISLR Default (balance, income, student; 3% defaults) the shipped classifier scores ROC
AUC 0.947 reading balance alone and 0.925 reading all three, while logistic regression scores 0.947 on all three.
``feature_selection="auto"`` ranks the columns by relevance to the target on the context (ANOVA F, or absolute
correlation for a regression target), predicts each of ``SELECTION_FOLDS`` folds of the context from the rest
(one member) reading the top 1, 2, 4, 8 and 16 columns and every column, and keeps the prefix with the lowest
held-out loss only when it beats every column by more than ``SELECTION_STANDARD_ERRORS`` standard errors of the
per-row difference: on a small or noisy context a prefix that wins by chance is not taken, so every column stays.

Tables wider than ``max_features`` are left to their members' reductions (:mod:`tightfit.tabular.wide`); a
classifier's selecting member codes classes directly (``_selection_member``), as one-vs-rest would cost a forward
pass per class for every fold and width.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from tightfit.search.evidence import clear_gain
from tightfit.tabular.wide import column_scores

__all__ = [
    "MIN_SELECTION_ROWS",
    "SELECTION_FOLDS",
    "SELECTION_ROWS",
    "SELECTION_WIDTHS",
    "ColumnSelection",
    "select_columns",
]

SELECTION_WIDTHS = (1, 2, 4, 8, 16)  # the prefixes of the ranked columns tried, besides every column
SELECTION_FOLDS = 5
SELECTION_STANDARD_ERRORS = 2.0  # a prefix must beat every column by this many standard errors of the difference
SELECTION_ROWS = 500  # a larger context is subsampled to this many rows for selection
MIN_SELECTION_ROWS = 40  # smaller contexts read every column: too few rows to tell a prefix from chance


@dataclass
class ColumnSelection:
    """The columns kept (positions in the fitted table, ascending) and each tried width's mean held-out loss
    (``width -> loss``; the loss is the estimator's: log loss of the true class, squared standardised error)."""

    columns: np.ndarray
    losses: dict[int, float]


def select_columns(estimator: Any, X: np.ndarray, y: np.ndarray) -> ColumnSelection:
    """The columns ``estimator`` (a fitted in-context estimator) should read of the context ``X, y`` (see the
    module's docstring); every column when none is chosen or the table is outside what selection covers."""
    n_columns = X.shape[1]
    every = np.arange(n_columns)
    one_member = estimator._selection_member()
    if n_columns < 2 or n_columns > estimator.max_features or len(y) < MIN_SELECTION_ROWS or one_member is None:
        return ColumnSelection(every, {})
    ranked = np.argsort(-column_scores(estimator._relevance, X, y), kind="stable")
    folds = _folds(y, estimator.TASK == "classification", estimator.random_state)
    losses = {width: _held_out(one_member, X[:, ranked[:width]], y, folds)
              for width in [w for w in SELECTION_WIDTHS if w < n_columns] + [n_columns]}  # fmt: skip
    gains = {width: clear_gain(losses[n_columns], loss, SELECTION_STANDARD_ERRORS)
             for width, loss in losses.items() if width < n_columns}  # fmt: skip
    beating = {width: gain for width, gain in gains.items() if gain is not None}
    columns = np.sort(ranked[: max(beating, key=beating.get)]) if beating else every
    return ColumnSelection(columns, {width: float(loss.mean()) for width, loss in losses.items()})


def _folds(y: np.ndarray, classes: bool, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds where a class fills them; a class rarer than the folds is spread as far as it goes, without
    scikit-learn's warning (an internal choice the user cannot act on)."""
    if classes and np.bincount(np.unique(y, return_inverse=True)[1]).max() >= SELECTION_FOLDS:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
            return list(StratifiedKFold(SELECTION_FOLDS, shuffle=True, random_state=seed).split(y, y))
    return list(KFold(SELECTION_FOLDS, shuffle=True, random_state=seed).split(y))


def _held_out(one_member: Any, X: np.ndarray, y: np.ndarray, folds: list) -> np.ndarray:
    """Each row's loss when its fold is predicted from the other rows (``one_member``'s ``_held_out_losses``)."""
    losses = np.empty(len(y))
    for rest, fold in folds:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            one_member.fit(X[rest], y[rest])  # a fit replaces the last fold's context
        losses[fold] = one_member._held_out_losses(X[fold], y[fold])
    return losses
