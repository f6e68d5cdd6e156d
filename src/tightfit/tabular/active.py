"""`ActiveLearner`: which pool rows to label next, under a label budget.

With an in-context model (TinyTFM, TabICL, TabPFN) a labelled row is one more context row: a query round is a
``fit`` that stores the context and one pass over the pool, no retraining. Any scikit-learn classifier with
``predict_proba`` works too (refitted each round).

``suggest`` scores the pool in chunks of ``chunk_rows`` (the peak stays bounded however large the pool; only one
score per row is kept; a CSV/Parquet path is read a chunk at a time, so the pool may be larger than memory) — at
most ``max_scored`` rows a round, a fresh random sample of a larger pool, which bounds a round's time — with
a strategy — ``margin``, ``entropy``, ``least_confident`` (scikit-activeml's ``uncertainty_scores``), ``qbc``
(query by committee: the average KL divergence between ``COMMITTEE`` models fitted on bootstrap resamples of the
labelled rows, scikit-activeml's ``average_kl_divergence``) or ``random`` (the control) — and takes the most
uncertain rows. With ``diversity`` (the default) a batch is spread out by cluster-margin (Citovsky et al., 2021):
the ``CANDIDATE_FACTOR`` x n most uncertain rows are clustered into n groups in the model's standardised feature
space and the most uncertain row of each group is taken — no near-duplicates, and the batch covers the uncertain
region rather than one corner of it (the README has its measured gain over plain ranking). With no labels at all
(cold start) it returns representative rows: the row nearest each k-means centre of the pool. ``Budget(labels=N)``
caps the labelled rows in all: suggestions stop at N. ``pseudo_label`` returns the pool rows the model is already
sure of, with their predicted labels.

    learner = ActiveLearner("TinyTFM", strategy="margin", batch_size=10, budget=Budget(labels=200))
    first = learner.suggest(X_pool)                      # cold start: representative rows
    nxt = learner.suggest(X_pool, X_labelled, y_labelled)  # the most uncertain, one per cluster
    nxt.rows, nxt.uncertainty, nxt.to_frame(X_pool)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tightfit.budget import Budget
from tightfit.errors import BudgetExceeded, ConfigError, DataError, bad_param
from tightfit.params import Interval, Options, check

__all__ = ["STRATEGIES", "ActiveLearner", "Suggestion"]

STRATEGIES = ("margin", "entropy", "least_confident", "qbc", "random")
COMMITTEE = 5  # qbc: models fitted on stratified bootstrap resamples of the labelled rows
_SKACTIVEML = {"margin": "margin_sampling", "entropy": "entropy", "least_confident": "least_confident"}
CANDIDATE_FACTOR = 10  # a diverse batch: the 10 x n most uncertain rows, clustered into n groups
_KMEANS_SAMPLE = 20_000  # cold start: k-means on at most this many pool rows


@dataclass
class Suggestion:
    """The pool rows to label next (positions in ``X_pool``, most useful first), the model's current prediction
    and uncertainty for each (None / NaN at cold start), how they were chosen, and notes (the label budget)."""

    rows: np.ndarray
    prediction: np.ndarray | None
    uncertainty: np.ndarray
    how: str
    notes: list[str] = field(default_factory=list)

    def to_frame(self, X_pool: Any):
        """The suggested rows of ``X_pool`` with ``prediction`` and ``uncertainty`` columns, as a DataFrame."""
        import pandas as pd

        chosen = _Pool(X_pool, 50_000).take(self.rows)
        frame = chosen.reset_index(drop=True).copy() if hasattr(chosen, "columns") else pd.DataFrame(chosen)
        frame.insert(0, "pool_row", self.rows)
        frame["prediction"] = None if self.prediction is None else list(self.prediction)
        frame["uncertainty"] = self.uncertainty
        return frame


class ActiveLearner:
    """Suggest pool rows to label; see the module docstring.

    Parameters
    ----------
    model : str or scikit-learn classifier, default="TinyTFM"
        A :class:`~tightfit.tabular.TabularPipeline` model name (preprocessing included), or an estimator with
        ``predict_proba`` (given the tables as they are, cloned and refitted each round).
    strategy : {"margin", "entropy", "least_confident", "qbc", "random"}, default="margin"
    batch_size : int, default=10
        Rows per suggestion (``suggest``'s ``n`` overrides).
    diversity : bool, default=True
        One row per k-means group of the most uncertain rows (cluster-margin) instead of the top ``n``.
    budget : Budget, default=None
        ``labels``: the labelled rows affordable in all; suggestions stop there.
    max_scored : int or None, default=2000
        Pool rows scored per round: a fresh random sample of this many (the rest wait for later rounds); None
        scores every row. Scoring is the round's cost (a model pass per row): this bounds it on large pools.
    chunk_rows : int, default=4096
        Pool rows scored per model call (bounds the peak memory of scoring a large pool).
    model_params : dict, default=None
        ``model_params`` of the pipeline when ``model`` is a name.
    random_state : int, default=0
    """

    def __init__(
        self,
        model: Any = "TinyTFM",
        strategy: str = "margin",
        batch_size: int = 10,
        diversity: bool = True,
        budget: Budget | None = None,
        max_scored: int | None = 2000,
        chunk_rows: int = 4096,
        model_params: dict[str, Any] | None = None,
        random_state: int = 0,
    ) -> None:
        check(
            "ActiveLearner",
            strategy=(strategy, Options(*STRATEGIES)),
            batch_size=(batch_size, Interval(int, 1)),
            diversity=(diversity, bool),
            budget=(budget, None, Budget),
            max_scored=(max_scored, None, Interval(int, 1)),
            chunk_rows=(chunk_rows, Interval(int, 1)),
            model_params=(model_params, None, dict),
            random_state=(random_state, Interval(int, 0)),
        )
        if isinstance(model, str):
            from tightfit.tabular.backends import model_spec

            model_spec(model).check("classification", "inference", model_params or {})
        elif not hasattr(model, "predict_proba") or not hasattr(model, "fit"):
            raise bad_param("model", "ActiveLearner", "a TabularPipeline model name or a classifier with "
                            "fit and predict_proba", type(model).__name__)  # fmt: skip
        self.model, self.strategy, self.batch_size, self.diversity = model, strategy, batch_size, diversity
        self.budget, self.chunk_rows, self.model_params = budget or Budget(), chunk_rows, model_params
        self.random_state, self.max_scored = random_state, max_scored

    def suggest(self, X_pool: Any, X_labelled: Any = None, y_labelled: Any = None, n: int | None = None) -> Suggestion:
        """The next ``n`` (default ``batch_size``) pool rows to label; see the module docstring. ``X_pool`` holds
        the rows without a label (a row already in ``X_labelled`` would be suggested again if the model is still
        unsure of it): a table, or the path of a CSV/Parquet file read ``chunk_rows`` rows at a time (a pool larger
        than memory)."""
        n = self.batch_size if n is None else n
        check("suggest", n=(n, Interval(int, 1)))
        pool = _Pool(X_pool, self.chunk_rows)
        pool_rows = pool.n_rows
        labelled = 0 if y_labelled is None else len(y_labelled)
        if (X_labelled is None) != (y_labelled is None):
            raise ConfigError("suggest needs X_labelled and y_labelled together (or neither, for a cold start).")
        if X_labelled is not None and len(X_labelled) != labelled:
            raise DataError(f"X_labelled has {len(X_labelled)} rows and y_labelled {labelled}; they must match.")
        if n > pool_rows:
            raise ConfigError(f"suggest: n={n} is larger than the pool ({pool_rows} rows).")
        notes = []
        if self.budget.labels is not None:
            left = self.budget.labels - labelled
            if left <= 0:
                raise BudgetExceeded("labels", self.budget.labels, labelled, detail=f"{labelled} rows are labelled "
                                     "already", hint="raise Budget(labels=...)")  # fmt: skip
            if n > left:
                notes.append(f"label budget: {left} of labels={self.budget.labels} left, so {left} rows instead of {n}")
                n = left
        if labelled == 0:
            return self._cold_start(pool, n, notes)
        y = _labels(pool, X_labelled, y_labelled)
        fitted = self.fit_model(X_labelled, y)
        if self.strategy == "random":
            rows = np.random.default_rng(self.random_state + labelled).choice(pool_rows, n, replace=False)
            proba = _proba(fitted, pool.take(rows))
            return Suggestion(rows, fitted.classes_[proba.argmax(1)], _uncertainty(proba, "margin"), "random", notes)
        committee = self._committee(X_labelled, y) if self.strategy == "qbc" else []
        sample = np.arange(pool_rows)
        if self.max_scored is not None and pool_rows > max(self.max_scored, n):
            sample = np.sort(np.random.default_rng(self.random_state + labelled).choice(pool_rows, self.max_scored,
                                                                                         replace=False))  # fmt: skip
            notes.append(f"scored a random {self.max_scored} of the {pool_rows} pool rows (max_scored)")
        scores, predicted = self._score(fitted, committee, pool, sample)
        ranked = sample[np.argsort(-scores[sample], kind="stable")]
        if self.diversity and n > 1:
            rows = _spread_batch(ranked[: CANDIDATE_FACTOR * n], self._space(fitted, pool), n, self.random_state)
            how = f"{self.strategy}, one row per cluster of the {CANDIDATE_FACTOR * n} most uncertain"
        else:
            rows, how = ranked[:n], self.strategy
        return Suggestion(rows, fitted.classes_[predicted[rows]], scores[rows], how, notes)

    def pseudo_label(self, X_pool: Any, X_labelled: Any, y_labelled: Any, threshold: float = 0.95) -> Suggestion:
        """The pool rows the model, fitted on the labelled rows, predicts with probability at least ``threshold``,
        with those predictions (most confident first): labels for free, as sure as the model is calibrated."""
        check("pseudo_label", threshold=(threshold, Interval(float, 0, 1, closed="right")))
        pool = _Pool(X_pool, self.chunk_rows)
        pool_rows = pool.n_rows
        y = _labels(pool, X_labelled, y_labelled)
        fitted = self.fit_model(X_labelled, y)
        confidence, predicted = np.empty(pool_rows), np.empty(pool_rows, dtype=np.int64)
        for block, rows in pool.blocks():
            proba = _proba(fitted, rows)
            confidence[block], predicted[block] = proba.max(1), proba.argmax(1)
        rows = np.flatnonzero(confidence >= threshold)
        rows = rows[np.argsort(-confidence[rows], kind="stable")]
        note = f"{len(rows)} of {pool_rows} pool rows predicted with probability >= {threshold}"
        return Suggestion(rows, fitted.classes_[predicted[rows]], 1 - confidence[rows],
                          f"pseudo-labels: probability >= {threshold}", [note])  # fmt: skip

    def fit_model(self, X: Any, y: Any):
        """The learner's model fitted on labelled rows (a pipeline for a model name, else a clone of the estimator)."""
        if isinstance(self.model, str):
            from tightfit.tabular.pipeline import TabularPipeline

            tuning = {"seed": self.random_state, "show_progress": False}
            return TabularPipeline(self.model, model_params=self.model_params, tuning_params=tuning).fit(X, y)
        from sklearn.base import clone

        return clone(self.model).fit(X, y)

    # -- internals -------------------------------------------------------------------------------------------
    def _committee(self, X_labelled, y: np.ndarray) -> list:
        """``COMMITTEE`` models, each fitted on a bootstrap resample of every class's labelled rows (so each one
        knows every class)."""
        rng = np.random.default_rng(self.random_state + len(y))
        members = []
        for _ in range(COMMITTEE):
            rows = np.concatenate([rng.choice(np.flatnonzero(y == c), (y == c).sum()) for c in np.unique(y)])
            members.append(self.fit_model(_take(X_labelled, rows), y[rows]))
        return members

    def _score(self, fitted, committee: list, pool: _Pool, sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The uncertainty (or the committee's disagreement) and predicted class code of the pool rows in
        ``sample`` (sorted positions; the others stay NaN / -1), ``chunk_rows`` rows per model call."""
        from skactiveml.pool import average_kl_divergence

        scores, predicted = np.full(pool.n_rows, np.nan), np.full(pool.n_rows, -1, dtype=np.int64)
        for block, rows in pool.blocks():
            inside = sample[(sample >= block.start) & (sample < block.stop)]
            if len(inside) == 0:
                continue
            if len(inside) < block.stop - block.start:  # a sample of the block (every row: no copy)
                rows = _take(rows, inside - block.start)
            proba = _proba(fitted, rows)
            predicted[inside] = proba.argmax(1)
            if committee:
                scores[inside] = average_kl_divergence(np.stack([_proba(m, rows) for m in committee]))
            else:
                scores[inside] = _uncertainty(proba, self.strategy)
        return scores, predicted

    def _space(self, fitted, pool: _Pool):
        """Rows as the model sees them, standardised: the space a batch is spread in."""
        if hasattr(fitted, "processor_"):
            return lambda rows: _standardised(fitted.processor_.transform(pool.take(rows)))
        return lambda rows: _encoded(pool.take(rows))

    def _cold_start(self, pool: _Pool, n: int, notes: list[str]) -> Suggestion:
        """No labels yet: the pool row nearest each of ``n`` k-means centres (the pool's representative rows)."""
        from sklearn.cluster import KMeans

        rng = np.random.default_rng(self.random_state)
        sample = np.sort(rng.choice(pool.n_rows, min(pool.n_rows, _KMEANS_SAMPLE), replace=False))
        sampled = pool.take(sample)
        processor = _numeric_view().fit(sampled)
        points = _standardised(processor.transform(sampled))
        centres = KMeans(n_clusters=n, n_init=3, random_state=self.random_state).fit(points).cluster_centers_
        best, nearest = np.full(n, np.inf), np.zeros(n, dtype=np.int64)
        for block_slice, rows in pool.blocks():  # the nearest pool row to each centre, chunk by chunk
            block = np.arange(block_slice.start, block_slice.stop)
            cells = _standardised(processor.transform(rows))
            distances = ((cells[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
            closest = distances.argmin(0)
            better = distances[closest, np.arange(n)] < best
            best[better], nearest[better] = distances[closest, np.arange(n)][better], block[closest][better]
        rows = np.array(list(dict.fromkeys(nearest.tolist())))  # two centres may share a nearest row
        notes.append(f"cold start: no labels yet, so the row nearest each of {n} k-means centres of the pool")
        return Suggestion(rows, None, np.full(len(rows), np.nan), "cold start (k-means representatives)", notes)


class _Pool:
    """The pool as blocks of ``chunk_rows`` rows: a table in memory, or a CSV/Parquet file that is read a block at a
    time and never held whole (a pool larger than memory)."""

    def __init__(self, X: Any, chunk_rows: int) -> None:
        self.path = Path(X) if isinstance(X, (str, os.PathLike)) else None
        self.X, self.chunk_rows = X, chunk_rows
        if self.path is None:
            self.n_rows, self.head = _n_rows(X, "X_pool"), X
            return
        self.n_rows, self.head = 0, None
        for frame in self._frames():  # one pass to count the rows and keep the first block's columns
            self.head = frame if self.head is None else self.head
            self.n_rows += len(frame)

    def _frames(self):
        from tightfit.read import read_table_chunks

        return read_table_chunks(self.path, self.chunk_rows)[0]

    def blocks(self):
        """``(slice of pool positions, rows)`` per block, in order."""
        if self.path is None:
            for start in range(0, self.n_rows, self.chunk_rows):
                block = slice(start, min(start + self.chunk_rows, self.n_rows))
                yield block, _take(self.X, block)
            return
        start = 0
        for frame in self._frames():
            yield slice(start, start + len(frame)), frame.reset_index(drop=True)
            start += len(frame)

    def take(self, rows: Any) -> Any:
        """The rows at these pool positions, in the order given (a file: one pass, keeping only them)."""
        if self.path is None:
            return _take(self.X, rows)
        import pandas as pd

        rows = np.asarray(rows)
        kept = []
        for block, frame in self.blocks():
            inside = rows[(rows >= block.start) & (rows < block.stop)]
            kept.append(frame.iloc[np.unique(inside) - block.start].set_axis(np.unique(inside)))
        return pd.concat(kept).loc[rows].reset_index(drop=True)


def _n_rows(X: Any, name: str) -> int:
    if X is None or not hasattr(X, "__len__"):
        raise bad_param(name, "suggest", "a table (DataFrame or 2-D array)", type(X).__name__)
    if len(X) == 0:
        raise DataError(f"{name} has no rows.")
    return len(X)


def _take(X: Any, rows: Any) -> Any:
    from tightfit.tabular.target import take_rows

    return take_rows(X, rows)


def _labels(pool: _Pool, X_labelled: Any, y_labelled: Any) -> np.ndarray:
    """``y_labelled`` as an array, once the labelled rows are known to match the pool's columns and hold two
    classes at least."""
    from tightfit.tabular.pipeline import as_array

    _check_same_columns(pool.head, X_labelled)
    y = as_array(y_labelled)
    if len(np.unique(y)) < 2:
        raise DataError(f"y_labelled has a single class ({np.unique(y)[0]!r}): label rows of another class "
                        "first (a cold start, suggest(X_pool), picks representative rows).")  # fmt: skip
    return y


def _check_same_columns(X_pool: Any, X_labelled: Any) -> None:
    """The pool and the labelled rows must describe the same columns."""
    if hasattr(X_pool, "columns") and hasattr(X_labelled, "columns"):
        missing = [c for c in X_labelled.columns if c not in X_pool.columns]
        extra = [c for c in X_pool.columns if c not in X_labelled.columns]
        if missing or extra:
            raise DataError(f"X_pool's columns differ from X_labelled's: missing {missing}, not labelled {extra}.")
        return
    width = np.shape(X_pool)[1] if np.ndim(X_pool) == 2 else None
    if width != (np.shape(X_labelled)[1] if np.ndim(X_labelled) == 2 else None):
        raise DataError(f"X_pool has shape {np.shape(X_pool)} and X_labelled {np.shape(X_labelled)}: they need the "
                        "same columns.")  # fmt: skip


def _proba(fitted, X) -> np.ndarray:
    proba = np.asarray(fitted.predict_proba(X), dtype=np.float64)
    return proba / proba.sum(axis=1, keepdims=True)


def _uncertainty(proba: np.ndarray, strategy: str) -> np.ndarray:
    from skactiveml.pool import uncertainty_scores

    return uncertainty_scores(proba, method=_SKACTIVEML[strategy])


def _numeric_view():
    """Any table as numbers (categories one-hot, gaps imputed, scaled): where distances between rows are taken."""
    from tightfit.tabular.preprocess import TableProcessor

    return TableProcessor(imputation_strategy="median", categorical_encoding="onehot", scaling_strategy="standard")


def _encoded(X: Any) -> np.ndarray:
    return _standardised(_numeric_view().fit(X).transform(X))


def _standardised(X: np.ndarray) -> np.ndarray:
    X = np.nan_to_num(np.asarray(X, dtype=np.float64))
    scale = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(scale > 0, scale, 1.0)


def _spread_batch(candidates: np.ndarray, space, n: int, seed: int) -> np.ndarray:
    """Cluster-margin: ``candidates`` (most uncertain first) fall into ``n`` k-means groups in ``space``; the
    most uncertain row of each group is taken, so the batch covers the uncertain region instead of asking one
    question ``n`` times. Fewer distinct rows than ``n``: the next most uncertain fill the batch."""
    from sklearn.cluster import KMeans

    points = space(candidates)
    distinct = len(np.unique(points, axis=0))
    groups = KMeans(n_clusters=min(n, distinct), n_init=3, random_state=seed).fit(points).labels_
    firsts = np.sort(np.unique(groups, return_index=True)[1])  # candidates are in rank order
    rest = np.setdiff1d(np.arange(len(candidates)), firsts)[: n - len(firsts)]
    return candidates[np.concatenate([firsts, rest])]
