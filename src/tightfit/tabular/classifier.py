"""`TinyTFMClassifier`: the embedded tabular foundation model as a scikit-learn classifier.

``fit`` stores the labelled rows as context (nothing is trained); ``predict_proba`` runs the pretrained
:class:`~tightfit.tabular.models.tiny.TinyTFM` once per ensemble member (see
:mod:`tightfit.tabular.in_context`). A context larger than ``max_context`` is subsampled, stratified by class.
Members differ by a feature permutation, a cyclic shift of the class labels and, for every second one, a
quantile-normal transform of the features fitted on the context; their probabilities are averaged. From 7
classes (and always above the model's outputs) each member codes one binary context per class (``multiclass``).

>>> from sklearn.datasets import load_breast_cancer
>>> X, y = load_breast_cancer(return_X_y=True)
>>> clf = TinyTFMClassifier().fit(X[::2], y[::2])
>>> float((clf.predict(X[1::2]) == y[1::2]).mean()) > 0.9
True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from tightfit.errors import DataError
from tightfit.params import Options, check
from tightfit.tabular.in_context import (  # noqa: F401 (_load, _MIN_QUERY_ROWS: imported from here by callers)
    _MIN_QUERY_ROWS,
    CONTEXT_CACHE_BYTES,
    InContextEstimator,
    _load,
    _Member,
    shipped_weights,
)
from tightfit.tabular.member_rules import class_shift, one_vs_rest
from tightfit.tabular.wide import MAX_FEATURES

__all__ = ["CONTEXT_CACHE_BYTES", "SHIPPED_WEIGHTS", "TinyTFMClassifier"]

SHIPPED_WEIGHTS = "tiny_tfm.pt"  # in tightfit/tabular/weights/, with its card tiny_tfm.json
_CLIP_PROBABILITY = 1e-7  # a held-out row's loss is at most -log of this


class TinyTFMClassifier(ClassifierMixin, InContextEstimator):
    """In-context classifier backed by the shipped, CPU-pretrained TinyTFM.

    Parameters
    ----------
    n_estimators : int, default=1
        Ensemble members (class shift, quantile transform, context rows and inputs drawn per member on larger or
        wider tables); members the model reads alike (only their input order differs) are computed once. 1 is
        deterministic and invariant to the order of rows and features.
    max_context : int, default=1000
        Labelled rows used as context per member; more are subsampled, stratified by class.
    batch_size : int, default=512
        Query rows per forward pass: bounds inference memory (the rows are also transformed in blocks of this
        size, so a large table's copies stay bounded too). Predictions do not depend on it.
    context_cache : {"auto", True, False}, default="auto"
        Encode each member's context once and keep its keys and values (a one-row prediction then costs that
        row's own work), or recompute the context with every query block (less memory, slower). ``"auto"``
        caches when all members' caches together fit in 256 MiB. Predictions do not depend on it.
    device : str, default="auto"
        ``"auto"`` (CUDA when torch sees it), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    weights : str or Path, default=None
        A checkpoint written by ``save_tiny_tfm``, or the name of one shipped in the package
        (``tightfit.tabular.in_context.shipped_names()``, e.g. ``"tiny_tfm_v1"``); None: the default one.
    random_state : int, default=0
    max_features : int, default=32
        Inputs one member reads: a wider table gives each member this many, made by ``feature_reduction``
        (measured: 32 scored higher than 16 on digits, the same on Caravan, at twice a forward pass's cost).
    feature_reduction : {"mixed", "select", "pca", "subsample"}, default="mixed"
        How a member of a table wider than ``max_features`` makes its inputs: the columns most related to the
        classes, the leading principal components, half of each, or a random subset of the columns (see
        :mod:`tightfit.tabular.wide`, with its measurements).
    feature_selection : {"auto", True, False}, default="auto"
        Read only the columns most related to the classes when, predicting the context fold by fold (one member,
        5 folds, the top 1, 2, 4, 8 and 16 columns against every column), fewer of them beat every column by more
        than 2 standard errors (see :mod:`tightfit.tabular.selection`); ``selected_features_`` says which.
        ``"auto"`` selects for ensembles (``n_estimators > 1``), so one member stays cheap. Measured with 8
        members on the 8 benchmark tables of at most 32 columns: ISLR Default (balance, income, student) ROC AUC
        0.926 -> 0.947 (balance alone), the other 7 keep every column; fit costs 0.3-3.4 s more.
    multiclass : {"auto", "direct", "ovr"}, default="auto"
        ``"direct"`` codes one context of all classes (up to the model's 10 outputs); ``"ovr"`` one binary
        context per class (a forward pass each), the task the model saw most in pretraining; ``"auto"`` is direct
        below 7 classes and one-vs-rest from 7 (digits, 10 classes, 16 principal components: ROC AUC 0.987 -> 0.994,
        at 10x the forward passes; glass, 6 classes: 0.906 direct, 0.900 one-vs-rest). Above the model's outputs
        it is always one-vs-rest.
    """

    SHIPPED = SHIPPED_WEIGHTS
    MEMBER_PARAMS = (*InContextEstimator.MEMBER_PARAMS, "multiclass")
    # saved before multiclass existed: classes coded directly up to the model's outputs
    SAVED_BEFORE: ClassVar[dict[str, Any]] = InContextEstimator.SAVED_BEFORE | {"multiclass": "direct"}

    def __init__(
        self,
        n_estimators: int = 1,
        max_context: int = 1000,
        batch_size: int = 512,
        device: str = "auto",
        weights: str | Path | None = None,
        random_state: int = 0,
        context_cache: str | bool = "auto",
        max_features: int = MAX_FEATURES,
        feature_reduction: str = "mixed",
        feature_selection: str | bool = "auto",
        multiclass: str = "auto",
    ) -> None:
        super().__init__(n_estimators, max_context, batch_size, device, weights, random_state, context_cache,
                         max_features, feature_reduction, feature_selection)  # fmt: skip
        self.multiclass = multiclass

    def _check_params(self) -> None:
        super()._check_params()
        check("TinyTFMClassifier", multiclass=(self.multiclass, Options("auto", "direct", "ovr")))

    def one_vs_rest(self) -> bool:
        """Whether each member codes one binary context per class (see ``multiclass``); fitted estimators only."""
        check_is_fitted(self, "X_")
        return one_vs_rest(len(self.classes_), self.model_.config.max_classes, self.multiclass)

    def _fit_target(self, y: np.ndarray) -> np.ndarray:
        check_classification_targets(y)
        self.label_encoder_ = LabelEncoder().fit(y)
        self.classes_ = self.label_encoder_.classes_
        if len(self.classes_) < 2:
            raise DataError(f"y has a single class ({self.classes_[0]!r}); a classifier needs at least 2.")
        return self.label_encoder_.transform(y).astype(np.int64)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_rows, n_classes), in the order of ``classes_``; each row sums to 1 (a
        direct coding's float32 softmax, cut to the table's classes, summed 1 +- 1e-7: scikit-learn's log_loss
        warned)."""
        check_is_fitted(self, "X_")
        proba = self._averaged(X, len(self.classes_), self._member_proba)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "X_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    @staticmethod
    def _relevance(X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """ANOVA F of each column against the classes (NaN for a constant column)."""
        import warnings

        from sklearn.feature_selection import f_classif

        if len(np.unique(y)) < 2:  # a context of one class: no column tells classes apart
            return np.zeros(X.shape[1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant columns: 0/0 (a warning each), scored lowest
            return f_classif(X, y)[0]

    def _selection_member(self) -> TinyTFMClassifier | None:
        """Feature selection's member codes classes directly: one-vs-rest would cost a forward pass per class for
        every fold and width (a 10-class table of 800 x 20: 35 s against 8 s to predict with 8 members). Above the
        model's outputs only one-vs-rest can read the classes: no selection."""
        if len(self.classes_) > self.model_.config.max_classes:
            return None
        return super()._selection_member().set_params(multiclass="direct")

    def _held_out_losses(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Log loss of each row's true class (a class this context lacks has probability 0, clipped)."""
        proba = np.hstack([self.predict_proba(X), np.zeros((len(X), 1))])  # the last column: a class not seen
        seen = np.searchsorted(self.classes_, y).clip(max=len(self.classes_) - 1)
        seen = np.where(self.classes_[seen] == y, seen, len(self.classes_))
        return -np.log(np.clip(proba[np.arange(len(X)), seen], _CLIP_PROBABILITY, 1))

    def _codings(self, member: int, y_context: np.ndarray) -> dict[str, Any]:
        n_classes = len(self.classes_)
        if not self.one_vs_rest():
            shift = class_shift(member, n_classes, ovr=False)
            return {"codings": [(y_context + shift) % n_classes], "shift": shift}
        return {"codings": [(y_context == k).astype(np.int64) for k in range(n_classes)]}

    def _context_rows(self, rng: np.random.Generator, size: int | None = None) -> np.ndarray:
        """All rows, or ``size`` (default ``max_context``) stratified: each class keeps its share, at least one."""
        n, size = len(self.y_), size or self.max_context
        if n <= size:
            return np.arange(n)
        picked = []
        for label in np.unique(self.y_):
            rows = np.flatnonzero(self.y_ == label)
            take = max(1, round(size * len(rows) / n))
            picked.append(rng.choice(rows, size=min(take, len(rows)), replace=False))
        return np.sort(np.concatenate(picked))

    def _member_proba(self, X: np.ndarray, member: _Member) -> np.ndarray:
        X_qry = self._query_rows(X, member)
        n_classes = len(self.classes_)
        outputs = [self._forward(member, i, X_qry) for i in range(len(member.codings))]
        if len(outputs) == 1:  # all classes in one context (one-vs-rest codes at least 3)
            proba = outputs[0][:, :n_classes]
            return proba[:, (np.arange(n_classes) + member.shift) % n_classes]
        scores = np.stack([out[:, 1] for out in outputs], axis=1)  # P(class k) from each binary context
        return scores / np.clip(scores.sum(axis=1, keepdims=True), 1e-12, None)
