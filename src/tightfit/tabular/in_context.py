"""What the in-context estimators (:class:`~tightfit.tabular.classifier.TinyTFMClassifier`,
:class:`~tightfit.tabular.regressor.TinyTFMRegressor`) share: ``fit`` stores the labelled rows as context
(nothing is trained), prediction runs the pretrained TinyTFM once per ensemble member, with the queries in
blocks of ``batch_size`` rows so that memory stays bounded whatever the number of rows asked.

A member is a context (subsampled above ``max_context``, differently per member), its inputs (the columns in
a permuted order), for every second member a quantile-normal transform of the inputs fitted on the context,
and the target codings its subclass makes (class labels, or the standardised target). Its encoded contexts
are kept, so a few rows cost only their own work. The model has no feature-index embedding, so members that
differ only in the order of their inputs read alike: each distinct member is computed once and counted for
the ones like it (``_distinct``). On a table within ``max_context`` rows and ``max_features`` columns, a binary
or regression ensemble of 8 is 2 distinct members (identical predictions, measured 2.3-3.7x faster to fit and
predict and 3-4x faster per row on breast_cancer, wine, digits and diabetes, 2 threads).

An ensemble first chooses which columns of a narrow table its members read (``feature_selection``, see
:mod:`tightfit.tabular.selection`): a column that distracts the model is dropped when predicting the context fold
by fold says so clearly.

A table wider than ``max_features`` (default 32; the shipped models were pretrained on at most 10-12) gives each
member ``max_features`` inputs made by ``feature_reduction`` (default ``"mixed"``: the columns most related to
the target and the leading principal components; see :mod:`tightfit.tabular.wide`), so a forward pass stays
the cost of a ``max_features``-wide one (attention across features grows with the square of the width) and
stays within the widths the model was pretrained on.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.preprocessing import OrdinalEncoder, QuantileTransformer
from sklearn.utils.validation import check_is_fitted, validate_data

from tightfit.errors import ConfigError, DataError
from tightfit.params import Interval, Options, check, check_device
from tightfit.tabular.member_rules import quantile_transformed
from tightfit.tabular.selection import SELECTION_ROWS, select_columns
from tightfit.tabular.wide import MAX_FEATURES, STRATEGIES, MemberInputs, member_inputs

__all__ = ["CONTEXT_CACHE_BYTES", "InContextEstimator", "shipped_weights"]

_RANK_CLIP = 1e-7  # quantile ranks are kept off 0 and 1 (normal scores within +-5.2), as scikit-learn does
_MIN_QUERY_ROWS = 16  # fewer query rows are padded (zeros, outputs dropped): set by subset-invariance; see _forward

CONTEXT_CACHE_BYTES = 256 * 2**20  # encoded contexts are kept when all members' together fit in this
# Built members per fitted estimator, outside its __dict__ (predict must not change an estimator's state, and
# a pickle must not carry them); rebuilt when ``model_`` is replaced (fine-tuned weights) or the member settings
# change (a memory plan lowers them after fit).
_MEMBERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass
class _Member:
    """One ensemble member: its context (rows subsampled, its inputs made from the columns, maybe
    quantile-transformed), the target codings of that context (one, or one per class for one-vs-rest), how to
    map query rows the same way (``view``, then ``quantiles``), and the encoded contexts. ``shift`` is the
    class shift of a classifier's member; ``target`` how a regressor's member maps its standardised target
    back to the target's units."""

    X_context: np.ndarray
    codings: list[np.ndarray]
    view: MemberInputs
    quantiles: QuantileTransformer | None
    shift: int = 0
    target: Any = None
    count: int = 1  # the members it stands for: ones the model would read identically are computed once
    caches: list = field(default_factory=list)
    inputs: dict = field(default_factory=dict)  # "rows" and each coding -> its tensor, wrapped once

    def context_inputs(self, coding: int, device):
        """The context rows (one tensor for every coding) and the coding's targets as tensors, for uncached
        forwards."""
        import torch

        if "rows" not in self.inputs:
            self.inputs["rows"] = torch.as_tensor(self.X_context, device=device)
        if coding not in self.inputs:
            self.inputs[coding] = torch.as_tensor(self.codings[coding], device=device).unsqueeze(0)
        return self.inputs["rows"], self.inputs[coding]

    def reading(self) -> bytes:
        """What the model reads of this member, up to the order of its inputs: its context in input order
        undone, its codings and class shift. Two members with equal readings give equal outputs to a model
        with one cell per token (no feature-index embedding: attention across features is order-free)."""
        canonical = np.ascontiguousarray(self.X_context[:, np.argsort(self.view.order)])
        return b"".join([canonical.tobytes(), *(c.tobytes() for c in self.codings), str(self.shift).encode()])

    def cache_bytes(self, config) -> int:
        """Keys and values of every block for every context token, float32."""
        from tightfit.tabular.footprint import cache_bytes

        return cache_bytes(config, *self.X_context.shape, contexts=len(self.codings))

    def encode(self, model) -> None:
        import torch

        device = next(model.parameters()).device
        context = torch.as_tensor(self.X_context, device=device).unsqueeze(0)
        self.caches = [
            model.encode_context(context, torch.as_tensor(c, device=device).unsqueeze(0)) for c in self.codings
        ]


def shipped_weights(name: str = "tiny_tfm.pt") -> Path:
    """Path of a checkpoint that ships inside the package (``tightfit/tabular/weights/``)."""
    return Path(str(resources.files("tightfit.tabular") / "weights" / name))


def shipped_names() -> list[str]:
    """The checkpoints that ship inside the package, by name (``"tiny_tfm"``, ``"tiny_tfm_v1"``, ...)."""
    return sorted(p.stem for p in shipped_weights().parent.glob("*.pt"))


def weights_path(weights: str | Path | None, default: str) -> Path:
    """``weights`` as a file: None is ``default``; a shipped checkpoint's name (see :func:`shipped_names`)
    is that checkpoint; anything else is a path, which must exist."""
    if weights is None:
        return shipped_weights(default)
    if isinstance(weights, str) and weights in shipped_names():
        return shipped_weights(weights + ".pt")
    if not Path(weights).is_file():
        raise ConfigError(
            f"weights={str(weights)!r} is neither a file nor a shipped checkpoint ({', '.join(shipped_names())})."
        )
    return Path(weights)


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


class InContextEstimator(BaseEstimator):
    """The shared parameters, validation, members and forward passes; subclasses define the target side:
    ``_fit_target``, ``_codings`` and what a member's outputs become."""

    SHIPPED = "tiny_tfm.pt"
    TASK = "classification"
    TARGET_WORD = "labels"
    # what a member is built from: changing one after fit (set_params, a memory plan) rebuilds the members
    MEMBER_PARAMS = ("n_estimators", "max_context", "random_state", "max_features", "feature_reduction",
                     "context_cache")  # fmt: skip
    # the behaviour of an estimator saved before the parameter existed: every column read, random subsets
    # above max_features, contexts encoded when they fit in CONTEXT_CACHE_BYTES
    SAVED_BEFORE: ClassVar[dict[str, Any]] = {"max_features": np.iinfo(np.int32).max, "feature_reduction": "subsample",
                                              "context_cache": "auto", "feature_selection": False}  # fmt: skip

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
    ) -> None:
        self.n_estimators = n_estimators
        self.max_context = max_context
        self.batch_size = batch_size
        self.context_cache = context_cache
        self.device = device
        self.weights = weights
        self.random_state = random_state
        self.max_features = max_features
        self.feature_reduction = feature_reduction
        self.feature_selection = feature_selection

    # -- fit ---------------------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any):
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
        self._check_raw_target(np.asarray(y))
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan", dtype=np.float32, y_numeric=self.TASK ==
                             "regression")  # fmt: skip
        if len(y) < 2:
            raise DataError(f"got {len(y)} sample (n_samples = {len(y)}); the context needs at least 2 labelled rows.")
        if np.isinf(X).any():
            raise DataError("X contains infinite values; replace them (NaN is allowed and treated as missing).")
        self.y_ = self._fit_target(y)
        self.X_ = X
        self.model_ = _load(str(weights_path(self.weights, self.SHIPPED)), self._device())
        if self.model_.config.task != self.TASK:
            raise DataError(
                f"weights={str(self.weights)!r} hold a {self.model_.config.task} TinyTFM; "
                f"{type(self).__name__} needs a {self.TASK} one."
            )
        _MEMBERS.pop(self, None)  # a new context: members are rebuilt on first use
        self.selected_features_, self.selection_losses_ = np.arange(X.shape[1]), {}
        if self.feature_selection is True or (self.feature_selection == "auto" and self.n_estimators > 1):
            selection = select_columns(self, *self._selection_context())
            self.selected_features_, self.selection_losses_ = selection.columns, selection.losses
        return self

    def _selection_context(self) -> tuple[np.ndarray, np.ndarray]:
        """The rows feature selection predicts fold by fold: at most ``SELECTION_ROWS`` of the context (Default:
        z = -7.6 for the best prefix on 500 rows, -10.7 on 1,000; half the forward passes' cost)."""
        rows = self._context_rows(np.random.default_rng(self.random_state), min(self.max_context, SELECTION_ROWS))
        return self.X_[rows], self.y_[rows]

    def _check_raw_target(self, y: np.ndarray) -> None:
        """Refuse NaN targets, naming the rows, before scikit-learn's generic check would."""
        if y.dtype.kind == "f" and np.isnan(y).any():
            rows = np.flatnonzero(np.isnan(y.reshape(len(y), -1)).any(axis=1))
            raise DataError(
                f"y has {len(rows)} NaN {self.TARGET_WORD} (rows {rows[:5].tolist()}); drop or label those rows."
            )

    def _fit_target(self, y: np.ndarray) -> np.ndarray:
        """Check ``y`` and return the array the members code their contexts from."""
        raise NotImplementedError

    def _check_params(self) -> None:
        check(type(self).__name__, n_estimators=(self.n_estimators, Interval(int, 1)),
              max_context=(self.max_context, Interval(int, 2)), batch_size=(self.batch_size, Interval(int, 1)),
              context_cache=(self.context_cache, Options("auto", True, False)),
              max_features=(self.max_features, Interval(int, 1)),
              feature_reduction=(self.feature_reduction, Options(*STRATEGIES)),
              feature_selection=(self.feature_selection, Options("auto", True, False)))  # fmt: skip
        check_device(self.device, type(self).__name__)

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
    def _validated(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "X_")
        n_columns = X.shape[1] if hasattr(X, "shape") and len(X.shape) == 2 else None
        if n_columns is not None and n_columns != self.n_features_in_:
            raise DataError(
                f"X has {n_columns} features, but {type(self).__name__} is expecting {self.n_features_in_} "
                "features as input (the columns it was fitted on, in the same order)."
            )
        if self.encoder_ is not None:
            X = self._with_encoded(X, self.categorical_, fit=False)
        return validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype=np.float32)

    def _averaged(self, X: Any, width: int, member_output) -> np.ndarray:
        """``member_output(block, member) -> (rows, width)`` averaged over the members (each weighted by the
        members it stands for), block by block."""
        X = self._validated(X)
        total = np.zeros((len(X), width))
        members = self._members()
        for start in range(0, len(X), self.batch_size):  # row blocks: each member's copies stay block-sized
            block = X[start : start + self.batch_size]
            for member in members:
                total[start : start + len(block)] += member.count * member_output(block, member)
        return total / self.n_estimators

    def _members(self) -> list[_Member]:
        """Each member's context, feature order, transform and codings, with the encoded contexts (built on
        first use and kept while ``model_`` stays the same object; see :class:`_Member`)."""
        settings = tuple(getattr(self, name) for name in self.MEMBER_PARAMS)
        built = _MEMBERS.get(self)
        if built is None or built[0] is not self.model_ or built[1] != settings:
            rng = np.random.default_rng(self.random_state)
            members = self._distinct([self._member(m, rng) for m in range(self.n_estimators)])
            cache_bytes = sum(m.cache_bytes(self.model_.config) for m in members)
            if self.context_cache is True or (self.context_cache == "auto" and cache_bytes <= CONTEXT_CACHE_BYTES):
                for m in members:
                    m.encode(self.model_)
            built = _MEMBERS[self] = (self.model_, settings, members)
        return built[2]

    def _distinct(self, members: list[_Member]) -> list[_Member]:
        """The members with different readings, each counting the ones equal to it (see :meth:`_Member.reading`).
        On a table within ``max_context`` rows and ``max_features`` columns every member sees the same rows and
        columns, so members differ only by their class shift and transform: a binary 8-member ensemble is 2
        distinct members, computed once each (its predictions unchanged, 4x less work)."""
        if self.model_.config.features_per_token != 1:  # grouped cells are read in order: every member counts
            return members
        distinct: dict[bytes, _Member] = {}
        for member in members:
            key = member.reading()
            if key in distinct:
                distinct[key].count += 1
            else:
                distinct[key] = member
        return list(distinct.values())

    def _member(self, member: int, rng: np.random.Generator) -> _Member:
        context_idx = self._context_rows(rng)
        X_ctx, y_ctx = self.X_[context_idx], self.y_[context_idx]
        view = self._view(X_ctx, y_ctx, rng, shuffle=member > 0)
        X_ctx = view(X_ctx)
        quantiles = None
        if quantile_transformed(member, len(X_ctx)):
            quantiles = QuantileTransformer(
                n_quantiles=min(1000, len(X_ctx)), output_distribution="uniform", random_state=self.random_state
            ).fit(X_ctx)
            X_ctx = _normal_scores(quantiles, X_ctx)
        return _Member(X_ctx.astype(np.float32), view=view, quantiles=quantiles, **self._codings(member, y_ctx))

    def tuning_view(self) -> np.ndarray:
        """The stored rows as the model reads them: every column, or for a table wider than ``max_features``
        the inputs made by ``feature_reduction`` from all rows (fine-tuning trains on these, so the tuned
        model learns the inputs its members predict from)."""
        check_is_fitted(self, "X_")
        return self._view(self.X_, self.y_, np.random.default_rng(self.random_state), shuffle=False)(self.X_)

    def _view(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator, shuffle: bool) -> MemberInputs:
        """The inputs a member with context ``X, y`` reads: of the selected columns (``feature_selection``), those
        :func:`~tightfit.tabular.wide.member_inputs` makes."""
        kept = self.selected_features_
        every = len(kept) == X.shape[1]
        inputs = member_inputs(X if every else X[:, kept], y, self.max_features, self.feature_reduction,
                               self._relevance, rng, shuffle)  # fmt: skip
        if not every:  # selection leaves at most max_features: the kept columns are read as they are
            inputs.columns = kept[inputs.columns]
        return inputs

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Estimators saved before a parameter existed load with the behaviour they were saved with (their
        predictions do not change, and ``get_params`` finds every parameter): see :attr:`SAVED_BEFORE`."""
        super().__setstate__(self.SAVED_BEFORE | state)
        if "X_" in state and "selected_features_" not in state:  # fitted before selection: every column read
            self.selected_features_, self.selection_losses_ = np.arange(state["X_"].shape[1]), {}

    @staticmethod
    def _relevance(X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """How related each column is to the context's target (higher: more); ``"select"`` keeps the highest."""
        raise NotImplementedError

    def _selection_member(self) -> InContextEstimator | None:
        """The one-member estimator feature selection predicts the context with (None: none, too costly)."""
        from sklearn.base import clone

        return clone(self).set_params(n_estimators=1, feature_selection=False)

    def _held_out_losses(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Each row's loss when predicted from this estimator's context (lower: better; feature selection
        compares them)."""
        raise NotImplementedError

    def _codings(self, member: int, y_context: np.ndarray) -> dict[str, Any]:
        """The member's ``codings`` and, where the subclass needs them, ``shift`` or ``target``."""
        raise NotImplementedError

    def _context_rows(self, rng: np.random.Generator, size: int | None = None) -> np.ndarray:
        """A member's context rows: all, or ``size`` (default ``max_context``) drawn at random."""
        n, size = len(self.y_), size or self.max_context
        if n <= size:
            return np.arange(n)
        return np.sort(rng.choice(n, size=size, replace=False))

    def _query_rows(self, X: np.ndarray, member: _Member) -> np.ndarray:
        X_qry = member.view(X)
        return X_qry if member.quantiles is None else _normal_scores(member.quantiles, X_qry)

    def _forward(self, member: _Member, coding: int, X_qry: np.ndarray) -> np.ndarray:
        """Output probabilities (classes, or bins) of one block of query rows (cut to ``batch_size``)."""
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
                context, targets = member.context_inputs(coding, device)
                logits = self.model_(torch.cat([context, query]).unsqueeze(0), targets)[0]
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
