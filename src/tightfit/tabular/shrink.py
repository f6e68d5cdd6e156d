"""`compress_pipeline(pipe, X, y)`: shrink a fitted table model for serving, measured side by side (the table
side of `tightfit.compress`, a layer above it).

The variants are the fitted classification pipeline itself and its distilled students (``distil-LightGBM``,
``distil-MLP``: :func:`tightfit.tabular.distil`, trained on the teacher's probabilities over the distillation rows
plus synthetic rows it labels). They are entries of the search core, each built and timed in a guarded child
(Linux: forked from a warm server that imported the tabular stack once; elsewhere in this process) so that a
time budget stops the one still running at the deadline; each is timed end to end as it will serve:
``predict_proba`` on table rows, the preprocessing included. Measured per variant: quality on held-out rows (ROC
AUC when labels are given, else agreement with the original's labels), p50/p95 latency of one row and of 1,000
rows, size on disk in the safe format, and the time to distil. The budget's ``latency`` (one-row p95) and ``size``
are judged like every search's limits; a quality drop above ``max_quality_drop`` is ``over_limit`` on ``quality``.
Among the rest the fastest one-row p50 wins; p50s within 2% are a tie and the smaller wins.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from tightfit.budget import Budget
from tightfit.errors import ConfigError, bad_param
from tightfit.params import Interval, Options, check
from tightfit.search import Entry, Leaderboard, Measured, Outcome, Verdict, fastest_within_tie, run_candidates

__all__ = ["TableCompressReport", "compress_pipeline"]

ORIGINAL = "original"
BATCH_ROWS = 1000


@dataclasses.dataclass
class TableCompressReport:
    """Every variant's measured figures (``leaderboard``) and the chosen pipeline (``best``; None when none
    keeps quality within the limits)."""

    leaderboard: Leaderboard
    best: Any
    best_name: str | None
    metric: str
    max_quality_drop: float

    @property
    def table(self):
        """One row per variant: verdict, reason, quality and its drop, one-row and 1,000-row latency, size."""
        return self.leaderboard.to_frame()


def compress_pipeline(
    pipe: Any,
    X: Any,
    y: Any = None,
    *,
    budget: Budget | None = None,
    students: Sequence[str] = ("LightGBM", "MLP"),
    synthetic: float = 3.0,
    max_quality_drop: float = 0.01,
    holdout: float = 0.25,
    deadline: Any = None,
    random_state: int = 0,
    verbose: bool = True,
) -> TableCompressReport:
    """Distil the fitted classification ``pipe`` into each of ``students`` on rows of ``X`` (its training rows or
    unlabelled rows of the same table; ``holdout`` of them are kept back to score every variant), measure them
    beside the original and choose (see the module docstring). ``y``: labels of ``X`` for a held-out ROC AUC."""
    from tightfit import guard
    from tightfit.measure import Deadline
    from tightfit.tabular.autofit import CHILD_IMPORTS
    from tightfit.tabular.distillation import STUDENTS

    check("compress_pipeline", budget=(budget, None, Budget), synthetic=(synthetic, Interval(float, 0)),
          max_quality_drop=(max_quality_drop, Interval(float, 0)), random_state=(random_state, int),
          holdout=(holdout, Interval(float, 0, 1, "neither")), verbose=(verbose, bool))  # fmt: skip
    if isinstance(students, str) or not all(Options(*STUDENTS).accepts(s) for s in students):
        raise bad_param("students", "compress_pipeline", f"a sequence from {STUDENTS}", students)
    if not hasattr(pipe, "model_") or getattr(pipe, "task_type", None) != "classification":
        raise ConfigError("compress_pipeline needs a fitted classification TabularPipeline (a run folder's model).")
    budget = budget or Budget()
    fit_rows, held_rows = _split(X, y, holdout, random_state)
    evaluator = _Evaluator(pipe, X, y, fit_rows, held_rows, synthetic, random_state, float(max_quality_drop))
    entries = [Entry(ORIGINAL, None)] + [Entry(f"distil-{s}", s) for s in students]
    board = run_candidates(
        entries, budget, evaluator, executor="local" if guard.forks_children() else "inline",
        applies=("latency", "size"), deadline=deadline or Deadline(budget.time), check_entry=evaluator.quality_kept,
        choose=_fastest_one_row, entity="variant", preload=CHILD_IMPORTS, verbose=verbose,
    )  # fmt: skip
    chosen = board.chosen
    return TableCompressReport(board, None if chosen is None else chosen.artefact,
                               None if chosen is None else chosen.name, evaluator.metric,
                               float(max_quality_drop))  # fmt: skip


def _split(X: Any, y: Any, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row positions to distil on and to score on (stratified by ``y`` when every class has two rows)."""
    from sklearn.model_selection import train_test_split

    positions = np.arange(len(X))
    labels = None if y is None else np.asarray(y)
    stratify = labels if labels is not None and np.unique(labels, return_counts=True)[1].min() >= 2 else None
    fit_rows, held_rows = train_test_split(positions, test_size=holdout, random_state=seed, stratify=stratify)
    return np.sort(fit_rows), np.sort(held_rows)


class _Evaluator:
    """Builds one variant per entry (the original, or a student distilled from it) and measures it here."""

    def __init__(self, pipe, X, y, fit_rows, held_rows, synthetic: float, seed: int, max_drop: float) -> None:
        from tightfit.tabular.target import take_rows

        self.pipe, self.synthetic, self.seed, self.max_drop = pipe, synthetic, seed, max_drop
        self.X_fit, self.X_held = take_rows(X, fit_rows), take_rows(X, held_rows)
        self.y_held = None if y is None else np.asarray(y)[held_rows]
        self.metric = "roc_auc_score" if y is not None else "agreement"
        self.one_row = take_rows(X, held_rows[:1])
        self.batch = take_rows(X, np.resize(held_rows, BATCH_ROWS))  # held-out rows repeated to 1,000
        self.reference = pipe.predict(self.X_held)
        self.base_quality: float | None = None  # the original's, set in this process by ``quality_kept``

    def __call__(self, student: str | None, time_left: float | None) -> Outcome:
        from tightfit.measure import latency, stopwatch
        from tightfit.tabular import distil
        from tightfit.tabular.autofit import saved_size

        if student is None:
            model, distil_s = self.pipe, 0.0
        else:
            model, distil_s = stopwatch(distil, self.pipe, self.X_fit, student=student, synthetic=self.synthetic,
                                        random_state=self.seed)  # fmt: skip
        quality = self._quality(model)
        one = latency(model.predict_proba, self.one_row, warmup=3, min_repeats=20, min_time_s=0.5)
        many = latency(model.predict_proba, self.batch, warmup=1, min_repeats=3, min_time_s=0.5)
        measured = Measured(
            quality=quality, metric=self.metric, size_bytes=saved_size(model), latency_batch=1,
            latency_p50_s=one.p50_s, latency_p95_s=one.p95_s, fit_s=distil_s,
            extra={f"p50_at_{BATCH_ROWS}_s": many.p50_s, f"p95_at_{BATCH_ROWS}_s": many.p95_s},
        )  # fmt: skip
        return Outcome(measured, artefact=model, details={"distilled_from": self.pipe.model_name} if student else {})

    def _quality(self, model: Any) -> float:
        if self.y_held is None:
            return float(np.mean(model.predict(self.X_held) == self.reference))
        return float(model.evaluate(self.X_held, self.y_held)["roc_auc_score"])

    def quality_kept(self, entry: Entry) -> Verdict | None:
        """The search's ``check_entry``, in this process: the original's quality is the reference; a variant
        measured when the original was not (stopped at the deadline) has no drop to judge."""
        if entry.name == ORIGINAL:
            self.base_quality = entry.measured.quality
        if self.base_quality is None:
            return None
        drop = entry.measured.extra["quality_drop"] = self.base_quality - entry.measured.quality
        if drop > self.max_drop + 1e-12:  # float noise in an equal score is no drop
            return Verdict.over_limit("quality", drop, self.max_drop,
                                      f"{self.metric} drop {drop:.4f} > {self.max_drop}")  # fmt: skip
        return None


def _fastest_one_row(fits: list[Entry]) -> tuple[Entry, str]:
    """The fastest one-row p50 (:func:`tightfit.search.fastest_within_tie`)."""
    best = fastest_within_tie(fits, lambda e: e.measured.latency_p50_s)
    return best, f"fastest one-row p50 among {len(fits)} that keep quality and fit the limits"
