"""`TabularLeaderboard`: several pipelines on one train/test split, side by side — a thin view over the search core.

Each entry is one :func:`tightfit.search.run_candidates` entry: fitted and evaluated in its own guarded child
(so its peak memory is its own, a crash or an out-of-memory kill stays one row, and a memory or time budget is
enforced). A failing entry is ``failed`` with its error text as the reason.

    board = TabularLeaderboard(X_train, X_test, y_train, y_test)
    board.add_model("TinyTFM").add_model("TinyTFM", "peft", tuning_params={"epochs": 3}).add_model("LightGBM")
    table = board.run(rank_by="roc_auc_score")
"""

from __future__ import annotations

import functools
from typing import Any

from tightfit.budget import Budget
from tightfit.errors import ConfigError, bad_param
from tightfit.tabular.metrics import METRIC_NAMES
from tightfit.tabular.pipeline import TabularPipeline

__all__ = ["TabularLeaderboard"]

_LOWER_IS_BETTER = {"log_loss", "brier_score", "ece", "rmse", "mae", "median_ae", "mape"}


def _fit_and_score(X_train, X_test, y_train, y_test, rank_by: str, pipe: TabularPipeline, time_left):
    """In the child: fit, time prediction, evaluate; the guard measures the child's peak memory."""
    from tightfit.measure import stopwatch
    from tightfit.search import Measured
    from tightfit.tabular.autofit import saved_size

    _, fit_s = stopwatch(pipe.fit, X_train, y_train)
    _, predict_s = stopwatch(pipe.predict, X_test)
    metrics = dict(pipe.evaluate(X_test, y_test))
    extra: dict[str, Any] = {k: v for k, v in metrics.items() if k != rank_by} | {"predict_s": predict_s}
    if pipe.finetune_ is not None:
        extra |= {"train_peak_bytes": pipe.finetune_.train.peak_memory_bytes,
                  "trainable_params": pipe.finetune_.trainable_params, "kept": pipe.finetune_.kept}  # fmt: skip
    return Measured(quality=metrics.get(rank_by), metric=rank_by, higher_is_better=rank_by not in _LOWER_IS_BETTER,
                    fit_s=fit_s, size_bytes=saved_size(pipe), extra=extra)  # fmt: skip


class TabularLeaderboard:
    """Compare pipelines on ``(X_train, y_train)`` -> ``(X_test, y_test)``; see the module docstring.

    Parameters
    ----------
    task_type : {"classification", "regression"}, default="classification"
    budget : Budget, default=None
        ``memory`` and ``time`` cap each entry's child process; an entry that breaks them is a row with the
        reason.
    """

    def __init__(
        self, X_train, X_test, y_train, y_test, task_type: str = "classification", budget: Budget | None = None
    ) -> None:
        if len(X_train) != len(y_train) or len(X_test) != len(y_test):
            raise bad_param(
                "y_train/y_test", "TabularLeaderboard", "as many labels as rows", (len(y_train), len(y_test))
            )
        self.data = (X_train, X_test, y_train, y_test)
        self.task_type = task_type
        self.budget = budget or Budget()
        self.entries: list[tuple[str, TabularPipeline]] = []

    def add_model(self, model_name: str, tuning_strategy: str = "inference", name: str | None = None, **kwargs: Any):
        """Add a pipeline (built now, so a bad option raises here); ``kwargs`` go to :class:`TabularPipeline`.
        Returns self, so calls chain."""
        pipe = TabularPipeline(model_name, task_type=self.task_type, tuning_strategy=tuning_strategy, **kwargs)
        label = name or (
            pipe.model_name if tuning_strategy == "inference" else f"{pipe.model_name} ({pipe.tuning_strategy})"
        )
        if any(label == existing for existing, _ in self.entries):
            raise ConfigError(
                f"an entry named {label!r} is already on the leaderboard; pass name=... to tell them apart."
            )
        self.entries.append((label, pipe))
        return self

    def run(self, rank_by: str | None = None, verbose: bool = True):
        """Fit and score every entry; a DataFrame sorted by ``rank_by`` (default ROC AUC or R²), best first,
        with each entry's verdict and reason. ``self.search_`` keeps the search's Leaderboard."""
        from tightfit.search import Entry, run_candidates

        if not self.entries:
            raise ConfigError("the leaderboard is empty; add_model(...) first.")
        rank_by = rank_by or ("roc_auc_score" if self.task_type == "classification" else "r2")
        known = METRIC_NAMES[self.task_type]
        if rank_by not in known:
            raise bad_param("rank_by", "TabularLeaderboard.run", known, rank_by)
        evaluate = functools.partial(_fit_and_score, *self.data, rank_by)
        self.search_ = run_candidates(
            [Entry(label, pipe) for label, pipe in self.entries], self.budget, evaluate,
            applies=("memory", "size"), entry_time_cap=self.budget.time, entity="model",
            device=self.budget.resolve_device(), verbose=verbose,
        )  # fmt: skip
        table = self.search_.to_frame()
        table = table.sort_values(rank_by, ascending=rank_by in _LOWER_IS_BETTER, na_position="last", kind="stable")
        return table.reset_index(drop=True)
