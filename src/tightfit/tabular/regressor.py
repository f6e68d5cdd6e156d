"""`TinyTFMRegressor`: the embedded regression TinyTFM as a scikit-learn regressor, with intervals.

``fit`` stores the rows as context; each ensemble member maps the context's target through its quantiles to
a normal and standardises it, and the model returns a bar distribution over that scale for every query row
(see :mod:`tightfit.tabular.models.bars`). ``predict`` is the distribution's mean, ``predict_quantiles`` and
``predict_interval`` read its inverse CDF; both are mapped back to the target's units (the mean bin by bin,
quantiles exactly, as the map is monotone) and averaged over the members (quantile averaging).

>>> from sklearn.datasets import load_diabetes
>>> X, y = load_diabetes(return_X_y=True)
>>> reg = TinyTFMRegressor().fit(X[::2], y[::2])
>>> float(reg.score(X[1::2], y[1::2])) > 0.3
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.preprocessing import QuantileTransformer

from tightfit.errors import DataError, bad_param
from tightfit.params import Interval, Options, check
from tightfit.tabular.in_context import InContextEstimator, _Member
from tightfit.tabular.wide import MAX_FEATURES

__all__ = ["SHIPPED_REGRESSOR_WEIGHTS", "TinyTFMRegressor"]

SHIPPED_REGRESSOR_WEIGHTS = "tiny_tfm_regressor.pt"  # in tightfit/tabular/weights/, with its card
CALIBRATION_FOLDS = 5  # interval calibration predicts each fifth of a member's context from the rest
MIN_CALIBRATION_ROWS = 20  # smaller contexts keep the model's own intervals
_POINTS_PER_BIN = 16  # a bin's mean through a nonlinear target transform: the average over this many points


class TinyTFMRegressor(RegressorMixin, InContextEstimator):
    """In-context regressor backed by the shipped, CPU-pretrained regression TinyTFM.

    Parameters
    ----------
    n_estimators : int, default=1
        Ensemble members (quantile transform, context rows and inputs drawn per member on larger or wider
        tables); members the model reads alike (only their input order differs) are computed once. 1 is
        deterministic and invariant to the order of rows and features.
    max_context : int, default=1000
        Rows used as context per member; more are subsampled at random, differently per member.
    batch_size : int, default=512
        Query rows per forward pass (bounds inference memory); predictions do not depend on it.
    context_cache : {"auto", True, False}, default="auto"
        Keep each member's encoded context (see :class:`~tightfit.tabular.classifier.TinyTFMClassifier`).
    device : str, default="auto"
        ``"auto"`` (CUDA when torch sees it), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    weights : str or Path, default=None
        A regression checkpoint written by ``save_tiny_tfm``, or the name of one shipped in the package
        (``tightfit.tabular.in_context.shipped_names()``, e.g. ``"tiny_tfm_v1"``); None: the default one.
    random_state : int, default=0
    target_transform : {"quantile", "none"}, default="quantile"
        How a member's context target is put on the model's scale before standardising: ``"quantile"`` maps it
        through its own quantiles to a normal, so a skewed target such as a price spreads over the bins instead
        of crowding the outer ones (predictions then stay within the context's range; measured better on all 8
        benchmark tables, most on skewed ones: diamonds R² 0.70 -> 0.89); ``"none"`` only standardises it.
    max_features : int, default=32
        Inputs one member reads: a wider table gives each member this many, made by ``feature_reduction``.
    feature_reduction : {"mixed", "select", "pca", "subsample"}, default="mixed"
        How a member of a table wider than ``max_features`` makes its inputs (the columns most correlated with
        the target, principal components, half of each, or a random subset; see :mod:`tightfit.tabular.wide`).
    feature_selection : {"auto", True, False}, default=False
        Read only the columns most correlated with the target when, predicting the context fold by fold, fewer of
        them beat every column clearly (see :mod:`tightfit.tabular.selection`; ``"auto"``: with an ensemble).
        Off by default for regression: on the 8 benchmark tables (8 members) it changed two, Carseats R² +0.018
        and Hitters -0.010 (mean +0.001), at 4.5x the fit+predict time.
    calibrate_intervals : bool, default=True
        Calibrate ``predict_interval`` on the context by split-conformal prediction (each member's context
        predicted fold by fold from the rest, 5 extra forward passes per member and coverage level, once), so
        that an 80% interval covers about 80% of rows like the context's; ``predict_quantiles`` stays the
        model's own distribution.
    """

    SHIPPED = SHIPPED_REGRESSOR_WEIGHTS
    TASK = "regression"
    TARGET_WORD = "targets"

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
        feature_selection: str | bool = False,
        target_transform: str = "quantile",
        calibrate_intervals: bool = True,
    ) -> None:
        super().__init__(n_estimators, max_context, batch_size, device, weights, random_state, context_cache,
                         max_features, feature_reduction, feature_selection)  # fmt: skip
        self.target_transform = target_transform
        self.calibrate_intervals = calibrate_intervals

    def _check_params(self) -> None:
        super()._check_params()
        check("TinyTFMRegressor", target_transform=(self.target_transform, Options("quantile", "none")),
              calibrate_intervals=(self.calibrate_intervals, bool))  # fmt: skip

    def _check_raw_target(self, y: np.ndarray) -> None:
        super()._check_raw_target(y)
        if y.dtype.kind == "f":
            infinite = np.flatnonzero(np.isinf(y.reshape(len(y), -1)).any(axis=1))
            if len(infinite):
                raise DataError(
                    f"y has {len(infinite)} infinite targets (rows {infinite[:5].tolist()}); a regression target "
                    "must be finite: drop those rows or cap the values."
                )

    def _fit_target(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        if np.ptp(y) == 0:
            raise DataError(f"y is constant ({y[0]!r}); a regression target needs at least two distinct values.")
        return y

    @staticmethod
    def _relevance(X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Absolute Pearson correlation of each column with the target (NaN for a constant column)."""
        import warnings

        from sklearn.feature_selection import r_regression

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.abs(r_regression(X, y))

    def _held_out_losses(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Each row's squared error, in units of the context target's variance."""
        return (self.predict(X) - y) ** 2 / max(float(np.var(self.y_)), 1e-12)

    def predict(self, X: Any) -> np.ndarray:
        """The mean of each row's predicted distribution, in the target's units."""
        return self._averaged(X, 1, self._member_mean)[:, 0]

    def predict_quantiles(self, X: Any, quantiles: tuple[float, ...] | list[float] = (0.1, 0.5, 0.9)) -> np.ndarray:
        """Quantiles of each row's predicted distribution, shape (n_rows, len(quantiles))."""
        levels = tuple(float(q) for q in np.atleast_1d(quantiles))
        if not levels or not all(0 < q < 1 for q in levels):
            raise bad_param("quantiles", "TinyTFMRegressor.predict_quantiles", "levels strictly between 0 and 1",
                            quantiles)  # fmt: skip
        return self._averaged(X, len(levels), lambda block, member: self._member_quantiles(block, member, levels))

    def predict_interval(self, X: Any, coverage: float = 0.8) -> np.ndarray:
        """The central ``coverage`` interval of each row's distribution, shape (n_rows, 2): lower, upper;
        with ``calibrate_intervals`` widened or narrowed so that it covers ``coverage`` of the context's own
        rows when they are predicted from the rest (see :meth:`_conformal_shift`)."""
        check("TinyTFMRegressor.predict_interval", coverage=(coverage, Interval(float, 0, 1, closed="neither")))
        tail = (1 - coverage) / 2
        levels = (tail, 1 - tail)  # as _conformal_shift reads them

        def interval(block: np.ndarray, member: _Member) -> np.ndarray:
            moved = self._conformal_shift(member, coverage) if self.calibrate_intervals else 0.0
            return self._member_quantiles(block, member, levels, offsets=moved * np.array([-1.0, 1.0]))

        return self._averaged(X, 2, interval)

    def _codings(self, member: int, y_context: np.ndarray) -> dict[str, Any]:
        target, standardised = _TargetMap.fit(y_context, self.target_transform, self.random_state)
        return {"codings": [standardised], "target": target}

    def _conformal_shift(self, member: _Member, coverage: float) -> float:
        """Split-conformal calibration of quantile intervals (CQR; Romano et al., NeurIPS 2019) on the member's
        context: each of ``CALIBRATION_FOLDS`` folds is predicted from the other rows, each row scores how far
        its target lies outside its interval (negative inside), and the scores' ``coverage`` quantile is the
        amount (on the standardised scale) by which every interval moves out, or in. Computed once per level."""
        if coverage in member.target.shifts:
            return member.target.shifts[coverage]
        import torch

        from tightfit.tabular.models.bars import bar_quantiles

        z, shift = member.codings[0].astype(np.float64), 0.0
        if len(z) >= MIN_CALIBRATION_ROWS:
            device = next(self.model_.parameters()).device
            order = np.random.default_rng(self.random_state).permutation(len(z))
            scores, tail = [], (1 - coverage) / 2
            for fold in np.array_split(order, CALIBRATION_FOLDS):
                rest = np.setdiff1d(order, fold)
                rows = torch.as_tensor(member.X_context[np.concatenate([rest, fold])], device=device).unsqueeze(0)
                with torch.inference_mode():
                    logits = self.model_(rows, torch.as_tensor(z[rest], device=device).unsqueeze(0))[0]
                bounds = bar_quantiles(torch.softmax(logits.double(), -1).cpu(), (tail, 1 - tail)).numpy()
                lower, upper = (z[rest].mean() + z[rest].std() * bounds).T  # the model scales its context itself
                scores.append(np.maximum(lower - z[fold], z[fold] - upper))
            scores = np.concatenate(scores)
            shift = float(np.quantile(scores, min(1.0, coverage * (1 + 1 / len(scores))), method="higher"))
        member.target.shifts[coverage] = shift
        return shift

    def _member_probs(self, X: np.ndarray, member: _Member):
        """The member's bar distributions over the query rows, float64 from here: a row's mean and quantiles then
        do not depend on which other rows share its block."""
        import torch

        return torch.from_numpy(self._forward(member, 0, self._query_rows(X, member))).double()

    def _member_mean(self, X: np.ndarray, member: _Member) -> np.ndarray:
        """(rows, 1): each distribution's mean in the target's units, bin by bin."""
        probs = self._member_probs(X, member)
        return (probs.numpy() @ member.target.bin_means(probs.shape[-1]))[:, None]

    def _member_quantiles(
        self, X: np.ndarray, member: _Member, levels: tuple[float, ...], offsets: np.ndarray | float = 0.0
    ) -> np.ndarray:
        """(rows, len(levels)): quantiles in the target's units, moved by ``offsets`` on the standardised scale
        first (an interval's conformal correction)."""
        from tightfit.tabular.models.bars import bar_quantiles

        return member.target.values(bar_quantiles(self._member_probs(X, member), levels).numpy() + offsets)


@dataclass
class _TargetMap:
    """A member's map between the target's units and the standardised scale the model's bins lie on: an
    optional quantile-normal transform (fitted on the context), then the context's mean and std."""

    mean: float
    std: float
    quantiles: QuantileTransformer | None
    shifts: dict[float, float] = field(default_factory=dict, repr=False)  # conformal, by coverage
    _bin_means: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def fit(cls, y: np.ndarray, transform: str, seed: int) -> tuple[_TargetMap, np.ndarray]:
        """The map fitted on a context's target ``y``, and ``y`` on the standardised scale (float32)."""
        quantiles = None
        if transform == "quantile":
            quantiles = QuantileTransformer(n_quantiles=min(1000, len(y)), output_distribution="normal",
                                            random_state=seed).fit(y.reshape(-1, 1))  # fmt: skip
            y = quantiles.transform(y.reshape(-1, 1)).ravel()
        mean, std = float(y.mean()), float(y.std()) or 1.0  # a constant subsample: std 1
        return cls(mean, std, quantiles), ((y - mean) / std).astype(np.float32)

    def values(self, z: np.ndarray) -> np.ndarray:
        """Standardised values ``z`` (any shape) in the target's units; exact for quantiles (the map is monotone)."""
        y = self.mean + self.std * z
        if self.quantiles is not None:
            y = self.quantiles.inverse_transform(y.reshape(-1, 1)).reshape(z.shape)
        return y

    def bin_means(self, n_bins: int) -> np.ndarray:
        """Each bin's mean in the target's units: the density is uniform within a bin on the standardised
        scale, so its mean through a nonlinear transform is the average over points spread across the bin."""
        if n_bins not in self._bin_means:
            from tightfit.tabular.models.bars import bar_borders

            borders = bar_borders(n_bins).double().numpy()
            spread = (np.arange(_POINTS_PER_BIN) + 0.5) / _POINTS_PER_BIN
            if self.quantiles is None:
                spread = np.array([0.5])  # linear: the midpoint is the mean
            points = borders[:-1, None] + spread[None, :] * np.diff(borders)[:, None]
            self._bin_means[n_bins] = self.values(points).mean(axis=1)
        return self._bin_means[n_bins]
