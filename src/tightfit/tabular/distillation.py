"""Distil a fitted classification pipeline into a fast student: labels are free here, so the teacher labels
synthetic rows too.

    student = distil(pipe, X_train)            # a TabularPipeline whose model is LightGBM on the teacher's view
    student.predict_proba(X_new)

The student learns the teacher's *probabilities* (log-odds per class), not its hard labels, on the training
rows plus ``synthetic`` times as many rows made from them: each numeric cell of a synthetic row interpolates
between two real rows (a random mix, as mixup does) plus a little noise, and each categorical cell is one
parent's code, so synthetic rows stay on the table's own grid. It shares the teacher's preprocessing, labels
and decision rule; only the model differs. The anchor: a tabular foundation model distilled into gradient-boosted
trees answered 38-860x faster at matching quality (arXiv 2605.18654).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from tightfit.errors import ConfigError
from tightfit.params import Interval, Options, check

__all__ = ["STUDENTS", "DistilledStudent", "distil"]

STUDENTS = ("LightGBM", "MLP")
_NOISE = 0.05  # synthetic numeric cells get this fraction of the column's spread as Gaussian noise
_EPS = 1e-6


class DistilledStudent(ClassifierMixin, BaseEstimator):
    """One regressor per class on the teacher's log-probabilities (one for a binary task: the log-odds);
    ``predict_proba`` turns them back into probabilities. Built by :func:`distil`."""

    def __init__(self, kind: str = "LightGBM", random_state: int = 0) -> None:
        self.kind = kind
        self.random_state = random_state

    def fit(self, X: np.ndarray, teacher_proba: np.ndarray) -> DistilledStudent:
        proba = np.clip(np.asarray(teacher_proba, dtype=np.float64), _EPS, 1.0)
        self.n_classes_ = proba.shape[1]
        self.classes_ = np.arange(self.n_classes_)
        if self.n_classes_ == 2:
            targets = [np.log(proba[:, 1]) - np.log(proba[:, 0])]
        else:
            logs = np.log(proba)
            targets = list((logs - logs.mean(axis=1, keepdims=True)).T)
        self.regressors_ = [_trimmed(self._regressor().fit(X, t)) for t in targets]
        return self

    def _regressor(self):
        if self.kind == "LightGBM":
            from lightgbm import LGBMRegressor

            return LGBMRegressor(n_estimators=300, learning_rate=0.05, num_leaves=31, min_child_samples=10,
                                 random_state=self.random_state, verbose=-1)  # fmt: skip
        from sklearn.impute import SimpleImputer
        from sklearn.neural_network import MLPRegressor
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),  # a network reads no NaN
            StandardScaler(),
            MLPRegressor(
                hidden_layer_sizes=(64, 64), max_iter=400, early_stopping=True, random_state=self.random_state
            ),
        )

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if self.kind == "LightGBM":  # the booster itself: the scikit-learn wrapper's checks cost more than a row
            scores = np.column_stack([r.booster_.predict(np.asarray(X)) for r in self.regressors_])
        else:
            scores = np.column_stack([r.predict(X) for r in self.regressors_])
        if self.n_classes_ == 2:
            positive = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.column_stack([1.0 - positive, positive])
        scores = scores - scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def _trimmed(regressor: Any) -> Any:
    """An MLP without its training-only state (the optimizer's moments, early stopping's copy of the best
    weights, which ``coefs_`` already holds): a third of its size, and nothing predict reads."""
    network = regressor[-1] if hasattr(regressor, "steps") else regressor
    for name in ("_optimizer", "_best_coefs", "_best_intercepts"):
        if hasattr(network, name):
            delattr(network, name)
    return regressor


def distil(pipe: Any, X: Any, student: str = "LightGBM", synthetic: float = 3.0, random_state: int = 0) -> Any:
    """A student pipeline that imitates the fitted classification ``pipe`` on the rows of ``X`` (the training
    rows, or any unlabelled rows from the same table) and ``synthetic`` times as many synthetic rows."""
    check("distil", student=(student, Options(*STUDENTS)), synthetic=(synthetic, Interval(float, 0)),
          random_state=(random_state, int))  # fmt: skip
    if not hasattr(pipe, "model_"):
        raise ConfigError("distil needs a fitted pipeline; call fit(X, y) first.")
    if pipe.task_type != "classification":
        raise ConfigError("distil needs a classification pipeline; a regression model can be refitted directly.")
    matrix = pipe.processor_.transform(X)
    rng = np.random.default_rng(random_state)
    rows = np.vstack([matrix, _synthetic_rows(matrix, pipe.processor_, int(synthetic * len(matrix)), rng)])
    teacher = np.asarray(pipe.model_.predict_proba(rows), dtype=np.float64)
    teacher /= teacher.sum(axis=1, keepdims=True)
    out = copy.copy(pipe)
    out.model_ = DistilledStudent(student, random_state).fit(rows, teacher)
    out.distilled_from_ = pipe.model_name
    out.notes_ = [*getattr(pipe, "notes_", []), f"distilled from {pipe.model_name} on {len(matrix)} rows and "
                  f"{len(rows) - len(matrix)} synthetic rows the teacher labelled"]  # fmt: skip
    return out


def _synthetic_rows(matrix: np.ndarray, processor: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rows mixed from random pairs of real rows: numeric cells interpolate (plus noise), categorical
    cells and missing values come from one parent."""
    if n == 0 or len(matrix) < 2:
        return np.empty((0, matrix.shape[1]), dtype=matrix.dtype)
    first, second = rng.integers(0, len(matrix), n), rng.integers(0, len(matrix), n)
    mix = rng.random((n, 1))
    a, b = matrix[first], matrix[second]
    blended = a + mix * (b - a)
    spread = np.nanstd(matrix, axis=0)
    blended += rng.normal(size=blended.shape) * _NOISE * np.nan_to_num(spread)
    pick = rng.random(blended.shape) < 0.5
    discrete = _discrete_columns(processor, matrix.shape[1])
    blended[:, discrete] = np.where(pick[:, discrete], a[:, discrete], b[:, discrete])
    missing = np.isnan(blended)
    blended[missing] = np.where(pick, a, b)[missing]
    return blended.astype(matrix.dtype)


def _discrete_columns(processor: Any, width: int) -> np.ndarray:
    """Which output columns hold codes (categorical, boolean, one-hot), where a blend means nothing."""
    kinds = getattr(processor, "kinds_", {})
    names = getattr(processor, "feature_names_out_", [])
    discrete = np.zeros(width, dtype=bool)
    categorical = {str(c) for c, k in kinds.items() if k in ("categorical", "boolean")}
    for j, name in enumerate(names[:width]):
        base = name.split("=")[0]
        discrete[j] = base in categorical or name in categorical
    return discrete
