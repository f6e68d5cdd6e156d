"""How an in-context ensemble member reads a table wider than ``max_features``: which inputs it hands the model.

The shipped TinyTFMs were pretrained on tables of at most 10-12 features. Read raw, a 64- or 85-column table is
far outside what they saw (digits 0.978, Caravan 0.594 ROC AUC with every column), and attention across
features costs the square of the width. A member of a wider table therefore reads ``max_features`` inputs,
made from its own context rows by one of four strategies:

- ``"select"``: the columns most related to the target on the context (ANOVA F for classes, absolute
  correlation for a regression target; missing values at the column median for the score only);
- ``"pca"``: the leading principal components of the context's standardised columns (missing values at the
  column mean), i.e. the directions that carry most of the table;
- ``"mixed"`` (default): half of each, so a member sees both the strongest single columns and the directions
  that summarise the rest;
- ``"subsample"``: a random subset of the columns, different per member (cost-bound only; what tightfit did
  before, kept for comparison).

Measured with the shipped classifier, 8 members, stratified 5-fold, training part capped at 1,000 rows
(2026-12-04, 2 threads; `benchmarks/tabular_tfm.py` has the "every column" row beside the default):

| inputs | Caravan (85 columns) | digits (64, 10 classes, one-vs-rest) | breast_cancer (30) |
| --- | --- | --- | --- |
| every column (before) | 0.594 | 0.978 (classes coded directly) | 0.994 |
| 16 mixed / select / pca | 0.684 / 0.689 / 0.664 | 0.990 / 0.986 / 0.992 | 0.993 / 0.993 / 0.989 |
| 32 mixed (default) | 0.684 | 0.993 | 0.994 (every column) |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["MAX_FEATURES", "STRATEGIES", "MemberInputs", "column_scores", "draws_columns", "member_inputs"]

STRATEGIES = ("mixed", "select", "pca", "subsample")
MAX_FEATURES = 32  # the in-context estimators' default width (the table above: 32 beat 16 on digits)


@dataclass
class MemberInputs:
    """A member's inputs from a table's columns: ``columns`` read as they are, then (optionally) principal
    components ``(X - center) / scale @ components.T`` with missing values at the center; ``order`` permutes
    the concatenation."""

    columns: np.ndarray
    order: np.ndarray
    center: np.ndarray | None = None
    scale: np.ndarray | None = None
    components: np.ndarray | None = None

    @property
    def width(self) -> int:
        return len(self.order)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        parts = [X[:, self.columns]]
        if self.components is not None:
            standard = np.nan_to_num((X - self.center) / self.scale, nan=0.0)
            parts.append(standard @ self.components.T)
        return np.ascontiguousarray(np.hstack(parts)[:, self.order], dtype=np.float32)


def member_inputs(
    X: np.ndarray, y: np.ndarray, width: int, strategy: str, relevance: Any, rng: np.random.Generator, shuffle: bool
) -> MemberInputs:
    """The inputs of a member whose context is ``X, y``: every column when the table has at most ``width``,
    otherwise ``width`` made by ``strategy``. ``relevance(X, y)`` scores columns (higher: more related);
    ``shuffle`` permutes the inputs (every member but the first, so members differ)."""
    n_columns = X.shape[1]
    if draws_columns(n_columns, width, strategy):  # already in a random order
        columns = rng.permutation(n_columns)[:width]
        return MemberInputs(columns, np.arange(width))
    if n_columns <= width:
        columns, n_components = np.arange(n_columns), 0
    else:
        n_components = {"pca": width, "select": 0, "mixed": width - width // 2}[strategy]
        n_components = min(n_components, len(X) - 1)  # the context's rank bounds its components
        selected = width - n_components
        columns = np.sort(np.argsort(-column_scores(relevance, X, y), kind="stable")[:selected])
    inputs = MemberInputs(columns, np.arange(len(columns) + n_components))
    if n_components:
        inputs.center, inputs.scale = _column_center_scale(X.astype(np.float64))
        standard = np.nan_to_num((X - inputs.center) / inputs.scale, nan=0.0)
        inputs.components = _signed(np.linalg.svd(standard, full_matrices=False)[2][:n_components])
    if shuffle:
        inputs.order = rng.permutation(inputs.width)
    return inputs


def draws_columns(n_columns: int, width: int, strategy: str) -> bool:
    """Whether each member of a table with ``n_columns`` draws its own random inputs (``"subsample"`` above
    ``width``); otherwise every member reads the same inputs, up to their order (the footprint planner counts
    distinct members by it)."""
    return n_columns > width and strategy == "subsample"


def column_scores(relevance: Any, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Column scores on median-imputed columns; a constant or unscorable column scores lowest."""
    center = np.nanmedian(np.where(np.isnan(X).all(axis=0), 0.0, X), axis=0) if np.isnan(X).any() else None
    filled = X if center is None else np.where(np.isnan(X), center, X)
    scores = np.abs(np.asarray(relevance(filled.astype(np.float64), y), dtype=np.float64))
    return np.nan_to_num(scores, nan=-1.0)


def _signed(components: np.ndarray) -> np.ndarray:
    """Components with their largest loading positive: an SVD's signs are arbitrary (they change with the row
    order), and the model reads ``x`` and ``-x`` differently, so predictions would too."""
    largest = components[np.arange(len(components)), np.abs(components).argmax(axis=1)]
    return components * np.where(largest < 0, -1.0, 1.0)[:, None]


def _column_center_scale(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each column's mean and standard deviation over its present values (1 where constant or all missing)."""
    present = ~np.isnan(X)
    counts = np.maximum(present.sum(axis=0), 1)
    center = np.where(present, X, 0.0).sum(axis=0) / counts
    spread = np.sqrt(np.where(present, (X - center) ** 2, 0.0).sum(axis=0) / counts)
    return center, np.where(spread > 1e-12, spread, 1.0)
