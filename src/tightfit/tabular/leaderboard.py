"""`TabularLeaderboard`: several pipelines on one train/test split, side by side, every number measured.

Each entry is fitted and evaluated in its own child process (:func:`tightfit.guard.run_limited`), so its peak
memory is its own (the child's high-water mark, not this process's), a crash or an out-of-memory kill stays
one row, and a memory or time budget is enforced. A failing entry keeps its error text in the ``error``
column instead of a bare "Failed".

    board = TabularLeaderboard(X_train, X_test, y_train, y_test)
    board.add_model("TinyTFM").add_model("TinyTFM", "peft", tuning_params={"epochs": 3}).add_model("LightGBM")
    table = board.run(rank_by="roc_auc_score")
"""

from __future__ import annotations

import pickle
import time
from typing import Any

from tightfit.budget import Budget
from tightfit.errors import ConfigError, bad_param
from tightfit.tabular.pipeline import TabularPipeline

__all__ = ["TabularLeaderboard"]

_LOWER_IS_BETTER = {"log_loss", "brier_score", "ece", "rmse", "mae", "median_ae", "mape"}


def _fit_and_score(pipe: TabularPipeline, X_train, X_test, y_train, y_test) -> dict[str, Any]:
    """In the child: fit, time prediction, evaluate, and report what the process used."""
    from tightfit.measure import peak_rss

    started = time.perf_counter()
    pipe.fit(X_train, y_train)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    pipe.predict(X_test)
    predict_s = time.perf_counter() - started
    row = dict(pipe.evaluate(X_test, y_test))
    row.update(fit_seconds=fit_s, predict_seconds=predict_s, model_bytes=len(pickle.dumps(pipe)))
    if pipe.finetune_ is not None:
        row.update(
            train_peak_bytes=pipe.finetune_.train.peak_memory_bytes,
            trainable_params=pipe.finetune_.trainable_params,
            kept=pipe.finetune_.kept,
        )
    row["peak_memory_bytes"] = peak_rss()
    return row


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
        """Fit and score every entry; a DataFrame sorted by ``rank_by`` (default ROC AUC or R²), best first."""
        import pandas as pd

        from tightfit.guard import run_limited
        from tightfit.train.progress import StepProgress

        if not self.entries:
            raise ConfigError("the leaderboard is empty; add_model(...) first.")
        rank_by = rank_by or ("roc_auc_score" if self.task_type == "classification" else "r2")
        rows = []
        with StepProgress(len(self.entries), verbose, description="models") as progress:
            for label, pipe in self.entries:
                row: dict[str, Any] = {"model": label, "strategy": pipe.tuning_strategy}
                try:
                    row |= run_limited(
                        _fit_and_score, pipe, *self.data, memory=self.budget.memory, time=self.budget.time
                    )
                    row["error"] = ""
                except Exception as exc:  # one entry's failure is one row, with its reason
                    row["error"] = f"{type(exc).__name__}: {exc}"
                rows.append(row)
                progress.advance()
        table = pd.DataFrame(rows)
        if rank_by not in table.columns:
            if table["error"].all():
                return table
            raise bad_param(
                "rank_by",
                "TabularLeaderboard.run",
                sorted(set(table.columns) - {"model", "strategy", "error"}),
                rank_by,
            )
        ascending = rank_by in _LOWER_IS_BETTER or rank_by.endswith(("seconds", "bytes"))
        table = table.sort_values(rank_by, ascending=ascending, na_position="last", kind="stable")
        return table.reset_index(drop=True)
