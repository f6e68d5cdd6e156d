"""`TinyTFMClassifier`: the embedded tabular foundation model as a scikit-learn classifier.

``fit`` stores the labelled rows as context (nothing is trained); ``predict_proba`` runs the pretrained
:class:`~tightfit.tabular.models.tiny.TinyTFM` once per ensemble member, with the queries in batches of
``batch_size`` rows so that memory stays bounded whatever the number of rows asked. A context larger than
``max_context`` is subsampled (stratified, a different subsample per member). Members differ by a feature
permutation, a cyclic shift of the class labels and, for every second one, a quantile-normal transform of
the features fitted on the context; their probabilities are averaged. More classes than the model has
outputs are handled one-vs-rest.

>>> from sklearn.datasets import load_breast_cancer
>>> X, y = load_breast_cancer(return_X_y=True)
>>> clf = TinyTFMClassifier().fit(X[::2], y[::2])
>>> float((clf.predict(X[1::2]) == y[1::2]).mean()) > 0.9
True
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelEncoder, OrdinalEncoder, QuantileTransformer
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from tightfit.errors import DataError, bad_param

__all__ = ["SHIPPED_WEIGHTS", "TinyTFMClassifier"]

SHIPPED_WEIGHTS = "tiny_tfm.pt"  # in tightfit/tabular/weights/, with its card tiny_tfm.json


def shipped_weights() -> Path:
    """Path of the checkpoint that ships inside the package."""
    return Path(str(resources.files("tightfit.tabular") / "weights" / SHIPPED_WEIGHTS))


@cache
def _load(path: str, device: str):
    from tightfit.tabular.models.tiny import load_tiny_tfm

    return load_tiny_tfm(path, map_location=device).to(device)


def _categorical_columns(X: Any) -> list[int]:
    """Positions of a DataFrame's non-numeric columns (object, category, string); none for arrays."""
    if not hasattr(X, "dtypes") or not hasattr(X, "columns"):
        return []
    from pandas.api.types import is_numeric_dtype

    return [i for i, dtype in enumerate(X.dtypes) if not is_numeric_dtype(dtype)]


class TinyTFMClassifier(ClassifierMixin, BaseEstimator):
    """In-context classifier backed by the shipped, CPU-pretrained TinyTFM.

    Parameters
    ----------
    n_estimators : int, default=1
        Ensemble members (feature permutation, class shift, preprocessing); 1 is deterministic and
        invariant to the order of rows and features.
    max_context : int, default=1000
        Labelled rows used as context per member; more are subsampled, stratified by class.
    batch_size : int, default=512
        Query rows per forward pass: bounds inference memory.
    device : str, default="auto"
        ``"auto"`` (CUDA when torch sees it), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    weights : str or Path, default=None
        A checkpoint written by ``save_tiny_tfm``; None uses the one shipped in the package.
    random_state : int, default=0
    """

    def __init__(
        self,
        n_estimators: int = 1,
        max_context: int = 1000,
        batch_size: int = 512,
        device: str = "auto",
        weights: str | Path | None = None,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_context = max_context
        self.batch_size = batch_size
        self.device = device
        self.weights = weights
        self.random_state = random_state

    # -- fit ---------------------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> TinyTFMClassifier:
        """Validate and store ``X, y`` as the context; returns self."""
        self._check_params()
        categorical = _categorical_columns(X)
        if categorical:
            self.encoder_ = OrdinalEncoder(
                handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan
            )
            X = self._with_encoded(X, categorical, fit=True)
        else:
            self.encoder_ = None
        self.categorical_ = categorical
        y_array = np.asarray(y)
        if y_array.dtype.kind == "f" and np.isnan(y_array).any():
            raise DataError(f"y has {int(np.isnan(y_array).sum())} NaN labels; drop or label those rows.")
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan", dtype=np.float32, y_numeric=False)
        check_classification_targets(y)
        if len(y) < 2:
            raise DataError(f"got {len(y)} sample (n_samples = {len(y)}); the context needs at least 2 labelled rows.")
        if np.isinf(X).any():
            raise DataError("X contains infinite values; replace them (NaN is allowed and treated as missing).")
        self.label_encoder_ = LabelEncoder().fit(y)
        self.classes_ = self.label_encoder_.classes_
        if len(self.classes_) < 2:
            raise DataError(f"y has a single class ({self.classes_[0]!r}); a classifier needs at least 2.")
        self.X_ = X
        self.y_ = self.label_encoder_.transform(y)
        self.model_ = _load(str(self.weights or shipped_weights()), self._device())
        return self

    def _check_params(self) -> None:
        for name, low in (("n_estimators", 1), ("max_context", 2), ("batch_size", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise bad_param(name, "TinyTFMClassifier", f"an int >= {low}", value)
        if not isinstance(self.device, str) or not (
            self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")
        ):
            raise bad_param("device", "TinyTFMClassifier", "'auto', 'cpu', 'cuda' or 'cuda:N'", self.device)

    def _device(self) -> str:
        import torch

        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return self.device

    def _with_encoded(self, X: Any, categorical: list[int], fit: bool) -> np.ndarray:
        frame = X.copy()
        columns = [frame.columns[i] for i in categorical]
        values = frame[columns].astype(object).where(frame[columns].notna(), np.nan)
        encoded = self.encoder_.fit_transform(values) if fit else self.encoder_.transform(values)
        frame[columns] = encoded.astype(np.float32)
        return frame.astype(np.float32)

    # -- predict -----------------------------------------------------------------------------------------
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_rows, n_classes), in the order of ``classes_``."""
        check_is_fitted(self, "X_")
        n_columns = X.shape[1] if hasattr(X, "shape") and len(X.shape) == 2 else None
        if n_columns is not None and n_columns != self.n_features_in_:
            raise DataError(
                f"X has {n_columns} features, but TinyTFMClassifier is expecting {self.n_features_in_} features "
                "as input (the columns it was fitted on, in the same order)."
            )
        if self.encoder_ is not None:
            X = self._with_encoded(X, self.categorical_, fit=False)
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype=np.float32)
        rng = np.random.default_rng(self.random_state)
        total = np.zeros((len(X), len(self.classes_)))
        for member in range(self.n_estimators):
            total += self._member_proba(X, member, rng)
        return total / self.n_estimators

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "X_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def _member_proba(self, X: np.ndarray, member: int, rng: np.random.Generator) -> np.ndarray:
        context_idx = self._context_rows(rng)
        X_ctx, y_ctx, X_qry = self.X_[context_idx], self.y_[context_idx], X
        if member > 0:
            order = rng.permutation(X.shape[1])
            X_ctx, X_qry = X_ctx[:, order], X_qry[:, order]
        if member % 2 == 1 and len(X_ctx) >= 10:
            quantiles = QuantileTransformer(
                n_quantiles=min(1000, len(X_ctx)), output_distribution="normal", random_state=self.random_state
            ).fit(X_ctx)
            X_ctx, X_qry = quantiles.transform(X_ctx), quantiles.transform(X_qry)
        n_classes = len(self.classes_)
        max_classes = self.model_.config.max_classes
        if n_classes <= max_classes:
            shift = member % n_classes
            shifted = (y_ctx + shift) % n_classes
            proba = self._forward(X_ctx, shifted, X_qry)[:, :n_classes]
            return proba[:, (np.arange(n_classes) + shift) % n_classes]
        scores = np.stack(  # one-vs-rest: P(class k) from a binary context, renormalised
            [self._forward(X_ctx, (y_ctx == k).astype(np.int64), X_qry)[:, 1] for k in range(n_classes)], axis=1
        )
        return scores / np.clip(scores.sum(axis=1, keepdims=True), 1e-12, None)

    def _context_rows(self, rng: np.random.Generator) -> np.ndarray:
        n = len(self.y_)
        if n <= self.max_context:
            return np.arange(n)
        # stratified: each class keeps its share, at least one row
        picked = []
        for label in np.unique(self.y_):
            rows = np.flatnonzero(self.y_ == label)
            take = max(1, round(self.max_context * len(rows) / n))
            picked.append(rng.choice(rows, size=min(take, len(rows)), replace=False))
        return np.sort(np.concatenate(picked))

    def _forward(self, X_ctx: np.ndarray, y_ctx: np.ndarray, X_qry: np.ndarray) -> np.ndarray:
        import torch

        device = next(self.model_.parameters()).device
        context = torch.as_tensor(X_ctx, dtype=torch.float32, device=device)
        labels = torch.as_tensor(y_ctx, dtype=torch.long, device=device).unsqueeze(0)
        out = []
        with torch.inference_mode():
            for start in range(0, len(X_qry), self.batch_size):
                query = torch.as_tensor(X_qry[start : start + self.batch_size], dtype=torch.float32, device=device)
                logits = self.model_(torch.cat([context, query]).unsqueeze(0), labels)[0]
                out.append(torch.softmax(logits, dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.model_.config.max_classes))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.non_deterministic = False
        return tags
