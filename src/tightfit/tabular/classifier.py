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

import weakref
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelEncoder, OrdinalEncoder, QuantileTransformer
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from tightfit.errors import DataError
from tightfit.params import Interval, Options, check, check_device

__all__ = ["CONTEXT_CACHE_BYTES", "SHIPPED_WEIGHTS", "TinyTFMClassifier"]

_RANK_CLIP = 1e-7  # quantile ranks are kept off 0 and 1 (normal scores within +-5.2), as scikit-learn does
_MIN_QUERY_ROWS = 16  # fewer query rows are padded (zeros, outputs dropped): set by subset-invariance; see _forward

SHIPPED_WEIGHTS = "tiny_tfm.pt"  # in tightfit/tabular/weights/, with its card tiny_tfm.json
CONTEXT_CACHE_BYTES = 256 * 2**20  # encoded contexts are kept when all members' together fit in this
# Built members per fitted classifier, outside its __dict__ (predict must not change an estimator's state, and
# a pickle must not carry them); rebuilt when ``model_`` is replaced (fine-tuned weights) or the member settings
# change (a memory plan lowers them after fit).
_MEMBERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass
class _Member:
    """One ensemble member: its context (rows subsampled, features permuted, maybe quantile-transformed),
    the label codings of that context (one, or one per class for one-vs-rest), how to map query rows the
    same way, and the encoded contexts, so predicting a few rows costs only those rows' own work."""

    X_context: np.ndarray
    codings: list[np.ndarray]
    order: np.ndarray
    quantiles: QuantileTransformer | None
    shift: int
    caches: list = field(default_factory=list)
    inputs: dict = field(default_factory=dict)  # coding -> (context, labels) tensors, wrapped once

    def context_inputs(self, coding: int, device):
        """The context rows and labels as tensors (the rows share this member's array), for uncached forwards."""
        import torch

        if coding not in self.inputs:
            self.inputs[coding] = (
                torch.as_tensor(self.X_context, device=device),
                torch.as_tensor(self.codings[coding], dtype=torch.long, device=device).unsqueeze(0),
            )
        return self.inputs[coding]

    def cache_bytes(self, config) -> int:
        """Keys and values of every block for every context token, float32."""
        from tightfit.tabular.footprint import cache_bytes

        return cache_bytes(config, *self.X_context.shape, contexts=len(self.codings))

    def encode(self, model) -> None:
        import torch

        device = next(model.parameters()).device
        context = torch.as_tensor(self.X_context, device=device).unsqueeze(0)
        self.caches = [
            model.encode_context(context, torch.as_tensor(c, dtype=torch.long, device=device).unsqueeze(0))
            for c in self.codings
        ]


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
        Query rows per forward pass: bounds inference memory (the rows are also transformed in blocks of this
        size, so a large table's copies stay bounded too). Predictions do not depend on it.
    context_cache : {"auto", True, False}, default="auto"
        Encode each member's context once and keep its keys and values (a one-row prediction then costs that
        row's own work), or recompute the context with every query block (less memory, slower). ``"auto"``
        caches when all members' caches together fit in 256 MiB. Predictions do not depend on it.
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
        context_cache: str | bool = "auto",
    ) -> None:
        self.n_estimators = n_estimators
        self.max_context = max_context
        self.batch_size = batch_size
        self.context_cache = context_cache
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
        _MEMBERS.pop(self, None)  # a new context: members are rebuilt on first use
        return self

    def _check_params(self) -> None:
        check("TinyTFMClassifier", n_estimators=(self.n_estimators, Interval(int, 1)),
              max_context=(self.max_context, Interval(int, 2)), batch_size=(self.batch_size, Interval(int, 1)),
              context_cache=(self.context_cache, Options("auto", True, False)))
        check_device(self.device, "TinyTFMClassifier")

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
        total = np.zeros((len(X), len(self.classes_)))
        members = self._members()
        for start in range(0, len(X), self.batch_size):  # row blocks: each member's copies stay block-sized
            block = X[start : start + self.batch_size]
            for member in members:
                total[start : start + len(block)] += self._member_proba(block, member)
        return total / self.n_estimators

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "X_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def _members(self) -> list[_Member]:
        """Each member's context, feature order, transform and label codings, with the encoded contexts
        (built on first use and kept while ``model_`` stays the same object; see :class:`_Member`)."""
        settings = (self.n_estimators, self.max_context, self.random_state, getattr(self, "context_cache", "auto"))
        built = _MEMBERS.get(self)
        if built is None or built[0] is not self.model_ or built[1] != settings:
            rng = np.random.default_rng(self.random_state)
            members = [self._member(m, rng) for m in range(self.n_estimators)]
            cache_bytes = sum(m.cache_bytes(self.model_.config) for m in members)
            if settings[-1] is True or (settings[-1] == "auto" and cache_bytes <= CONTEXT_CACHE_BYTES):
                for m in members:
                    m.encode(self.model_)
            built = _MEMBERS[self] = (self.model_, settings, members)
        return built[2]

    def _member(self, member: int, rng: np.random.Generator) -> _Member:
        context_idx = self._context_rows(rng)
        X_ctx, y_ctx = self.X_[context_idx], self.y_[context_idx]
        order = rng.permutation(X_ctx.shape[1]) if member > 0 else np.arange(X_ctx.shape[1])
        X_ctx = X_ctx[:, order]
        quantiles = None
        if member % 2 == 1 and len(X_ctx) >= 10:
            quantiles = QuantileTransformer(
                n_quantiles=min(1000, len(X_ctx)), output_distribution="uniform", random_state=self.random_state
            ).fit(X_ctx)
            X_ctx = _normal_scores(quantiles, X_ctx)
        n_classes = len(self.classes_)
        if n_classes <= self.model_.config.max_classes:
            shift = member % n_classes
            codings = [(y_ctx + shift) % n_classes]
        else:  # one-vs-rest: a binary context per class
            shift = 0
            codings = [(y_ctx == k).astype(np.int64) for k in range(n_classes)]
        return _Member(X_ctx.astype(np.float32), codings, order, quantiles, shift)

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

    def _member_proba(self, X: np.ndarray, member: _Member) -> np.ndarray:
        X_qry = np.ascontiguousarray(X[:, member.order])
        if member.quantiles is not None:
            X_qry = _normal_scores(member.quantiles, X_qry)
        n_classes = len(self.classes_)
        outputs = [self._forward(member, i, X_qry) for i in range(len(member.codings))]
        if n_classes <= self.model_.config.max_classes:
            proba = outputs[0][:, :n_classes]
            return proba[:, (np.arange(n_classes) + member.shift) % n_classes]
        scores = np.stack([out[:, 1] for out in outputs], axis=1)  # P(class k) from each binary context
        return scores / np.clip(scores.sum(axis=1, keepdims=True), 1e-12, None)

    def _forward(self, member: _Member, coding: int, X_qry: np.ndarray) -> np.ndarray:
        """Probabilities of one block of query rows (``predict_proba`` cuts them to ``batch_size``)."""
        import torch

        device = next(self.model_.parameters()).device
        with torch.inference_mode():
            query = torch.as_tensor(X_qry, dtype=torch.float32, device=device)
            n = len(query)
            if n < _MIN_QUERY_ROWS:  # the same matrix kernels for a few rows as for many: subset invariance
                query = torch.cat([query, query.new_zeros(_MIN_QUERY_ROWS - n, *query.shape[1:])])
            if member.caches:
                logits = self.model_.forward_queries(member.caches[coding], query.unsqueeze(0))[0]
            else:
                context, labels = member.context_inputs(coding, device)
                logits = self.model_(torch.cat([context, query]).unsqueeze(0), labels)[0]
            return torch.softmax(logits[-len(query) :][:n], dim=-1).cpu().numpy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.non_deterministic = False
        return tags


def _normal_scores(quantiles: QuantileTransformer, X: np.ndarray) -> np.ndarray:
    """Quantile ranks mapped to a standard normal, for all columns at once: scikit-learn's normal output calls
    SciPy's ``norm.ppf`` once per column, which made up two thirds of a one-row prediction."""
    from scipy.special import ndtri

    return ndtri(np.clip(quantiles.transform(X), _RANK_CLIP, 1 - _RANK_CLIP))
