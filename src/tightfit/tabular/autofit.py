"""`AutoFit`: the main job — the best tabular model that fits a budget, every figure measured.

The candidates (``tabular.candidates.CANDIDATES``, cheapest first: TinyTFM zero-shot, logistic regression,
LightGBM, Random Forest, TinyTFM with LoRA, TinyTFM fully fine-tuned; regression: TinyTFM zero-shot, LightGBM,
Random Forest, Ridge) go through the search core (:func:`tightfit.search.run_candidates`): each runs in its own guarded
child capped at the memory budget and the time left, where it is cross-validated (quality), refitted on all
rows, timed on single-row predictions (latency p50/p95) and saved (size on disk); the guard measures its
peak memory. A candidate that breaks a limit is ``over_limit`` with the measured reason; among the rest the
best cross-validated score wins (ties: the faster fit). A classifier over the ``latency`` or ``size`` limit is
followed at once by its distilled student (``"<label> -> LightGBM student"`` for latency, the smaller MLP for
size: each fold's fitted pipeline distilled on that fold's training rows, so its score is as honest as the
teacher's), which keeps most of a foundation model's quality at a fraction of its latency and size.
``save(out)`` writes the pipeline folder ``model/`` and ``run.json``; ``tightfit fit`` adds the report.

    auto = AutoFit(Budget(memory="2GB", time="5min", latency="10ms")).fit(X, y)
    auto.leaderboard_; auto.best_.predict(X_new); auto.save("tightfit-run")
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from tightfit.budget import Budget
from tightfit.errors import BudgetExceeded, ConfigError, DataError, SearchFailed
from tightfit.logs import loggers_quieted
from tightfit.params import Interval, Options, check
from tightfit.tabular.candidates import Candidate, candidates_for, default_candidates
from tightfit.tabular.cost_probe import PROBE_ROWS, PROBE_SHARE, order_by_probe
from tightfit.tabular.target import clean_target, infer_task, take_rows
from tightfit.units import format_seconds

__all__ = ["AutoFit", "Candidate", "default_candidates", "default_table", "infer_task"]

_SCORES = {"classification": ("roc_auc_score", "log_loss"), "regression": ("r2", "rmse")}
_CHANCE = {"classification": 0.5, "regression": 0.0}  # the primary score of a prediction that ignores X
_MIN_SECONDS = 1.0  # a candidate is not started with less time than this left (logistic regression: ~1.3 s)
# imported once by the guard's warm server instead of by every candidate's child (~4.5 s each, 2 cores)
CHILD_IMPORTS = ("tightfit.tabular.autofit", "tightfit.tabular.pipeline", "tightfit.tabular.classifier",
                 "tightfit.tabular.metrics", "tightfit.tabular.saved", "sklearn.model_selection",
                 "sklearn.linear_model", "sklearn.ensemble", "lightgbm", "skops.io", "safetensors.torch",
                 "tightfit.tabular.distillation")  # fmt: skip


def default_table():
    """The embedded default: Wisconsin breast cancer (569 rows, 30 features, ``diagnosis`` benign/malignant),
    shipped inside scikit-learn, so ``tightfit fit`` runs offline with no data argument."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame = data.frame.drop(columns="target")
    frame["diagnosis"] = data.target_names[data.target]
    return frame


def saved_size(pipeline: Any) -> int:
    """Bytes of the pipeline as :meth:`TabularPipeline.save` writes it (what a user ships)."""
    from tightfit.measure import size_of

    with tempfile.TemporaryDirectory() as folder:
        return size_of(pipeline.save(Path(folder) / "model"))


def _oof_decision(y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray, np.ndarray]], metric: str):
    """The decision rule tuned on out-of-fold probabilities, its score, and the out-of-fold confusion matrix."""
    from sklearn.metrics import confusion_matrix

    from tightfit.tabular.decision import decide, tune_decision

    classes, codes = np.unique(y, return_inverse=True)
    proba = np.zeros((len(y), len(classes)))
    for test, fold_classes, fold_proba in folds:  # a fold may lack a class: map its columns onto all classes
        proba[np.ix_(test, np.searchsorted(classes, fold_classes))] = fold_proba
    priors = np.bincount(codes, minlength=len(classes)) / len(codes)
    decision, score = tune_decision(y, proba, classes, priors, metric)
    counts = confusion_matrix(y, decide(proba, classes, decision, priors), labels=classes)
    return decision, score, {"labels": [str(c) for c in classes], "counts": counts.tolist()}


def _evaluate_candidate(
    task: str,
    X,
    y,
    cv: int,
    seed: int,
    decision_metric: str | None,
    budget: Budget,
    candidate: Candidate,
    time_left: float | None,
):
    """In the child: cross-validate (tuning the decision rule on out-of-fold probabilities), refit on everything,
    time single-row predictions, measure size; a classifier over ``budget``'s latency or size limit is followed by
    its distilled student."""
    from sklearn.model_selection import KFold, StratifiedKFold

    from tightfit.measure import Deadline, latency, stopwatch
    from tightfit.search import Measured, Outcome, SkipEntry
    from tightfit.tabular.decision import decide
    from tightfit.tabular.intervals import residual_grid
    from tightfit.tabular.metrics import classification_metrics, regression_metrics
    from tightfit.tabular.pipeline import TabularPipeline

    clock = Deadline(time_left)  # this evaluation's time, from its start
    seconds: list[float] = []  # each fold's fit time
    kept: list[str] = []  # each fine-tune's weights: "tuned", or "zero-shot" when tuning did not lower the loss
    if candidate.tuning_strategy == "peft":
        import peft  # noqa: F401  (seconds of imports, before the clock shares the time out: not fold 1's share)

    def fit(rows: Any, decision: Any = "argmax") -> TabularPipeline:
        """The candidate's pipeline fitted on ``rows`` (positions, or a slice), distilled when it is a student."""
        X_rows = take_rows(X, rows)
        with loggers_quieted("tightfit.tabular.finetune"):  # its "kept zero-shot weights": counted below, once
            pipe = build(decision).fit(X_rows, y[rows])
        if getattr(pipe, "finetune_", None) is not None:
            kept.append(pipe.finetune_.kept)
        if candidate.student is None:
            return pipe
        from tightfit.tabular.distillation import distil

        return distil(pipe, X_rows, student=candidate.student, random_state=seed)

    def build(decision: Any = "argmax") -> TabularPipeline:
        tuning = dict(candidate.tuning_params)
        budget = Budget()
        if candidate.tuning_strategy != "inference":
            tuning |= {"show_progress": False, "seed": seed}
            if time_left is not None:  # each fine-tune left (cv folds + the refit) gets its share of what is left
                budget = Budget(time=max(1.0, 0.6 * clock.left() / (cv + 1 - len(seconds))))
        return TabularPipeline(
            candidate.model_name, task_type=task, tuning_strategy=candidate.tuning_strategy, tuning_params=tuning,
            model_params=candidate.model_params, budget=budget, decision=decision,
        )  # fmt: skip

    splitter = (StratifiedKFold if task == "classification" else KFold)(cv, shuffle=True, random_state=seed)
    primary, secondary = _SCORES[task]
    scores, folds, residuals = {primary: [], secondary: []}, [], []
    for fold, (train, test) in enumerate(splitter.split(np.zeros(len(y)), y)):
        if fold == 1 and time_left is not None:  # fold 1 measured the cost: skip now rather than be stopped late
            first, left = clock.elapsed(), clock.left()
            if first * cv > left:
                raise SkipEntry(
                    f"the first fold took {format_seconds(first)}; the other {cv - 1} fold(s) and the refit need "
                    f"~{format_seconds(first * cv)}, {format_seconds(left)} left", "time")  # fmt: skip
        pipe, fold_s = stopwatch(fit, train)
        seconds.append(fold_s)
        if task == "classification":  # one forward pass per fold: the metrics and the decision tuning share it
            proba = pipe.predict_proba(take_rows(X, test))
            labels = decide(proba, pipe.classes_, pipe.decision, pipe.priors_)
            metrics = classification_metrics(y[test], proba, pipe.classes_, labels)
            folds.append((test, pipe.classes_, proba))
        else:
            predicted = pipe.predict(take_rows(X, test))
            metrics = regression_metrics(y[test], predicted)
            residuals.append(y[test] - predicted)
        for name in scores:
            scores[name].append(metrics[name])
    decision, details, extra = "argmax", {}, {}
    if task == "classification" and decision_metric is not None:
        decision, extra[decision_metric], confusion = _oof_decision(y, folds, decision_metric)
        details = {"decision": decision, "decision_metric": decision_metric, "confusion": confusion}
    final, refit_s = stopwatch(fit, slice(None), decision)
    if kept:  # said once in the report, where each fold's fine-tune printed it to the terminal
        details["zero_shot_kept"] = f"{kept.count('zero-shot')} of {len(kept)} fine-tunes kept the zero-shot weights"
    if task == "regression":  # intervals for any regressor: the conformal quantile of its out-of-fold errors
        final.interval_residuals_ = residual_grid(np.concatenate(residuals))
    one_row = take_rows(X, np.arange(1))
    timing = latency(final.predict, one_row, warmup=2, min_repeats=10, max_repeats=200, min_time_s=0.3)
    measured = Measured(
        quality=float(np.mean(scores[primary])), metric=primary, fit_s=float(np.median(seconds)),
        latency_p50_s=timing.p50_s, latency_p95_s=timing.p95_s, latency_batch=1, size_bytes=saved_size(final),
        extra={f"{primary}_std": float(np.std(scores[primary])), secondary: float(np.mean(scores[secondary])),
               "refit_s": refit_s} | extra,
    )  # fmt: skip
    return Outcome(measured, artefact=final, details=details, follow_ups=_student_after(task, candidate, measured,
                                                                                         budget))  # fmt: skip


def _student_after(task: str, candidate: Candidate, measured: Any, budget: Budget) -> list:
    """The distilled student of a classifier that broke the latency or size limit (none for a student)."""
    from tightfit.search import Entry

    slow = budget.latency is not None and measured.latency_p95_s > budget.latency
    big = budget.size is not None and measured.size_bytes > budget.size
    if task != "classification" or candidate.student is not None or not (slow or big):
        return []
    student = candidate.distilled("MLP" if big else "LightGBM")  # the smallest student, else the fastest one-row
    return [Entry(student.label, student, details={"teacher": candidate.label})]


class AutoFit:
    """Search the candidates under ``budget``; see the module docstring.

    Parameters
    ----------
    budget : Budget, default=None
        ``memory`` caps each candidate's process; ``time`` bounds the whole search; ``latency`` (p95 of a
        one-row prediction) and ``size`` (the saved pipeline) put candidates that exceed them over the limit.
    task_type : {"auto", "classification", "regression"}, default="auto"
    candidates : list of Candidate, default=None
        The search order; None uses :func:`default_candidates`.
    cv : int, default=3
        Cross-validation folds for the quality figure.
    random_state : int, default=0
    decision_metric : {"balanced_accuracy", "f1_score", "accuracy", "mcc"} or None, default="balanced_accuracy"
        Classification: each candidate's decision rule (a threshold for binary tasks, argmax or balanced
        otherwise) is tuned on its out-of-fold probabilities for this metric, so an imbalanced table does not
        end with every row predicted as the majority class. None keeps argmax.
    verbose : bool, default=True
        A progress bar over the candidates.
    executor : {"local", "inline", "ray"}, default="local"
        Where each candidate is fitted: a guarded child here, or a Ray task (on a cluster when one runs), still
        capped by the guard inside the task (:mod:`tightfit.search.executors`).
    rare_classes : {"refuse", "drop"}, default="refuse"
        A class with fewer rows than ``cv`` cannot be in every fold: ``"refuse"`` is a ``DataError`` naming it,
        ``"drop"`` leaves its rows out with a note (the model then never predicts it), as long as two classes
        remain.
    """

    def __init__(
        self,
        budget: Budget | None = None,
        task_type: str = "auto",
        candidates: list[Candidate] | None = None,
        cv: int = 3,
        random_state: int = 0,
        decision_metric: str | None = "balanced_accuracy",
        verbose: bool = True,
        executor: str = "local",
        rare_classes: str = "refuse",
    ) -> None:
        from tightfit.search.executors import check_executor
        from tightfit.tabular.decision import DECISION_METRICS

        check(
            "AutoFit",
            budget=(budget, None, Budget),
            task_type=(task_type, Options("auto", "classification", "regression")),
            cv=(cv, Interval(int, 2)),
            random_state=(random_state, Interval(int, 0)),
            decision_metric=(decision_metric, None, Options(*DECISION_METRICS)),
            verbose=(verbose, bool),
            rare_classes=(rare_classes, Options("refuse", "drop")),
        )
        if candidates is not None and (not candidates or not all(isinstance(c, Candidate) for c in candidates)):
            from tightfit.errors import bad_param

            raise bad_param("candidates", "AutoFit", "None or a non-empty list of Candidate", candidates)
        self.budget = budget or Budget()
        self.task_type = task_type
        self.candidates = candidates
        self.cv = cv
        self.random_state = random_state
        self.decision_metric = decision_metric
        check_executor("AutoFit", executor)
        self.executor = executor
        self.verbose = verbose
        self.rare_classes = rare_classes

    def fit(self, X: Any, y: Any, deadline: Any = None) -> AutoFit:
        """Run the search; ``best_`` is the chosen pipeline (refitted on all rows), ``search_`` the
        :class:`~tightfit.search.Leaderboard` (``leaderboard_`` as a DataFrame), ``binding_`` the limit that
        dropped the most candidates (None when none did). ``deadline``: a :class:`~tightfit.measure.Deadline`
        already running (the CLI's, counted from the command's start); default: ``budget.time`` from now."""
        from tightfit import guard
        from tightfit.measure import Deadline
        from tightfit.search import Entry, run_candidates
        from tightfit.tabular.leakage import leakage_note, leaking_columns
        from tightfit.tabular.pipeline import TabularPipeline
        from tightfit.tabular.preprocess import identifier_columns, identifier_note

        deadline = deadline or Deadline(self.budget.time)
        guard.warm_up(CHILD_IMPORTS)  # the server's imports overlap the checks below
        ids = identifier_columns(X) if hasattr(X, "iloc") else []  # pandas: the whole table, before any split
        if ids and len(ids) == X.shape[1]:
            raise DataError(f"every column of X is an identifier ({identifier_note(ids)}); nothing to learn from.")
        X, y, self.task_, self.notes_ = clean_target(X.drop(columns=ids) if ids else X, y, self.task_type)
        if ids:
            self.notes_.insert(0, identifier_note(ids))
        leaks = leaking_columns(X, y, self.task_) if hasattr(X, "iloc") else {}
        if leaks:
            self.notes_.append(leakage_note(leaks))
        if self.task_ == "classification":
            X, y = self._without_rare_classes(X, y)
        elif len(y) < 2 * self.cv:
            raise DataError(f"{len(y)} labelled rows are too few for cv={self.cv} cross-validation folds.")
        candidates = self.candidates or default_candidates(self.task_)
        for c in candidates:  # every option checked before anything runs
            TabularPipeline(c.model_name, task_type=self.task_, tuning_strategy=c.tuning_strategy,
                            tuning_params=c.tuning_params or None, model_params=c.model_params)  # fmt: skip
        left = deadline.left()
        if left is not None and left < _MIN_SECONDS:  # said now, not after the time is spent
            raise BudgetExceeded(
                "time", self.budget.time, deadline.elapsed() + _MIN_SECONDS,
                detail=f"{format_seconds(left)} left after the checks; the cheapest candidate, {candidates[0].label}, "
                f"is not started with less than {format_seconds(_MIN_SECONDS)} (cross-validation, refit, latency and "
                "size)", hint="raise the time budget",
            )  # fmt: skip
        evaluate = functools.partial(_evaluate_candidate, self.task_, X, y, self.cv, self.random_state,
                                     self.decision_metric, self.budget)  # fmt: skip
        predicted: dict[str, float] = {}
        if self.budget.time is not None:  # under a time budget the order decides which candidates run at all
            guard.warmed_up(CHILD_IMPORTS, deadline.left())  # timed beside the server's imports, a probe is slowed
            candidates, predicted = order_by_probe(candidates, X, y, self.task_, self.cv, self.random_state,
                                                   deadline.left())  # fmt: skip
        if predicted:
            ranked = sorted(predicted.items(), key=lambda item: item[1])
            listed = ", ".join(f"{name} ~{format_seconds(s) if np.isfinite(s) else '? (probe failed)'}"
                               for name, s in ranked)  # fmt: skip
            unprobed = [c.label for c in candidates if c.tuning_strategy == "inference" and c.label not in predicted]
            after = (f"; not probed, as the probe may spend only {PROBE_SHARE:.0%} of the time left: "
                     f"{', '.join(unprobed)}, after them") if unprobed else ""  # fmt: skip
            self.notes_.append(f"{len(y):,} rows: candidates ordered by a probe on {PROBE_ROWS} rows "
                               f"(predicted search cost: {listed}{after})")  # fmt: skip
        entries = [
            Entry(
                c.label,
                c,
                details={"predicted_s": round(predicted[c.label], 2)}
                if c.label in predicted and np.isfinite(predicted[c.label])
                else {},
            )
            for c in candidates
        ]
        self.search_ = run_candidates(
            entries, self.budget, evaluate, executor=self.executor,
            applies=("memory", "latency", "size"), deadline=deadline, min_seconds=_MIN_SECONDS, preload=CHILD_IMPORTS,
            techniques=candidates_for(self.task_), entity="model", device=self.budget.resolve_device(),
            verbose=self.verbose,
        )  # fmt: skip
        self.search_seconds_ = self.search_.search_s
        binding = self.search_.binding.binding
        self.binding_ = None if binding == "none" else binding
        chosen = self.search_.chosen
        if chosen is None:
            reasons = "; ".join(f"{e.name}: {e.reason}" for e in self.search_.entries)
            if self.binding_ not in ("memory", "time", "latency", "size"):
                raise SearchFailed(f"no candidate fits: every one failed: {reasons}")
            kind = self.binding_
            observed = deadline.elapsed() if kind == "time" else None
            raise BudgetExceeded(kind, getattr(self.budget, kind), observed, detail=f"no candidate fits: {reasons}")
        self.best_ = chosen.artefact
        self.best_name_ = chosen.name
        chance = _CHANCE[self.task_]
        if chosen.measured.quality <= chance:
            self.notes_.append(
                f"no candidate scores above chance: the best cross-validated {self.metric} is "
                f"{chosen.measured.quality:.4f}, where predicting without the columns scores {chance:g}; "
                "these columns may not carry the target"
            )
        return self

    def _without_rare_classes(self, X: Any, y: np.ndarray) -> tuple[Any, np.ndarray]:
        """``X, y`` without the rows of classes rarer than the folds (``rare_classes="drop"``, with a note), or a
        ``DataError`` naming the rarest."""
        labels = y.astype(str) if y.dtype.kind == "O" else y
        classes, counts = np.unique(labels, return_counts=True)
        rare = classes[counts < self.cv]
        if not len(rare):
            return X, y
        droppable = len(classes) - len(rare) >= 2  # a classification task is left without them
        if self.rare_classes == "drop" and droppable:
            keep = ~np.isin(labels, rare)
            named = ", ".join(repr(c.item()) for c in rare[:5]) + (" ..." if len(rare) > 5 else "")
            self.notes_.append(f"left out {int((~keep).sum())} row(s) of {len(rare)} class(es) with fewer rows than "
                               f"the cv={self.cv} folds ({named}): the model never predicts them")  # fmt: skip
            return take_rows(X, np.flatnonzero(keep)), y[keep]
        rarest = classes[counts.argmin()].item()
        fix = "rare_classes='drop' (CLI --rare-classes drop) leaves such rows out, " if droppable else ""
        raise DataError(
            f"class {rarest!r} of the target has {counts.min()} row(s), fewer than the cv={self.cv} "
            f"cross-validation folds; {fix}or lower cv or merge rare classes."
        )

    @property
    def leaderboard_(self):
        """One row per candidate: quality, fit time, latency p95, peak memory, size, verdict, reason."""
        if not hasattr(self, "search_"):
            raise ConfigError("AutoFit is not fitted yet; call fit(X, y) first.")
        return self.search_.to_frame()

    def predict(self, X: Any) -> np.ndarray:
        return self.best_.predict(X)

    def save(self, out: str | Path) -> Path:
        """Write the pipeline folder ``model/`` (:mod:`tightfit.tabular.saved`) and ``run.json`` (budget,
        leaderboard, binding limit, machine, versions) into ``out``; returns ``out``. ``tightfit fit`` adds the
        report through ``tightfit.report``."""
        from tightfit.runinfo import write_run_json

        if not hasattr(self, "best_"):
            raise ConfigError("AutoFit is not fitted yet; call fit(X, y) first.")
        out = Path(out)
        self.best_.save(out / "model")
        write_run_json(out, self.run_info())
        return out

    @property
    def metric(self) -> str:
        """The cross-validated score that ranks the candidates: ROC AUC or R²."""
        return _SCORES[self.task_][0]

    def run_info(self) -> dict[str, Any]:
        """What ``run.json`` holds besides the machine and the environment: the search's leaderboard and the
        settings that produced it."""
        return {"command": "fit", **self.search_.to_dict(), "task": self.task_, "metric": self.metric,
                "cv": self.cv, "random_state": self.random_state, "decision_metric": self.decision_metric,
                "data_notes": self.notes_}  # fmt: skip
