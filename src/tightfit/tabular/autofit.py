"""`AutoFit`: the main job — the best tabular model that fits a budget, every figure measured.

Candidates run cheapest first while the time budget lasts: TinyTFM zero-shot, logistic regression, LightGBM,
Random Forest, TinyTFM with LoRA, TinyTFM fully fine-tuned (regression: LightGBM, Random Forest, Ridge).
Each runs in its own child process (:func:`tightfit.guard.run_limited`) capped at the memory budget and the
time left, where it is cross-validated (quality), refitted on all rows, timed on single-row predictions
(latency p50/p95) and pickled (size); its peak memory is the child's high-water mark. A candidate that breaks
a limit is dropped with the measured reason; among the rest the best cross-validated score wins (ties: the
faster fit). ``save(out)`` writes ``model/pipeline.tfp`` and ``run.json``; the report layer
(:func:`tightfit.report.write_fit_report`) adds ``report.html``.

    auto = AutoFit(Budget(memory="2GB", time="5min", latency="10ms")).fit(X, y)
    auto.leaderboard_; auto.best_.predict(X_new); auto.save("tightfit-run")
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np

from tightfit.budget import Budget
from tightfit.errors import BudgetExceeded, ConfigError, DataError, bad_param
from tightfit.measure._units import format_bytes, format_seconds

__all__ = ["AutoFit", "Candidate", "default_candidates", "default_table", "infer_task", "select_candidates"]

_FINE_TUNE = {"support_size": 128, "query_size": 64, "batch_size": 4, "steps_per_epoch": 5, "epochs": 4}
_SCORES = {"classification": ("roc_auc_score", "log_loss"), "regression": ("r2", "rmse")}
_MIN_SECONDS = 2.0  # a candidate is not started with less time than this left


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One entry of the search: a label and the :class:`TabularPipeline` arguments."""

    label: str
    model_name: str
    tuning_strategy: str = "inference"
    tuning_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    model_params: dict[str, Any] = dataclasses.field(default_factory=dict)


def default_candidates(task: str) -> list[Candidate]:
    if task == "regression":
        return [
            Candidate("LightGBM", "LightGBM"),
            Candidate("RandomForest", "RandomForest"),
            Candidate("Ridge", "Ridge"),
        ]
    return [
        Candidate("TinyTFM zero-shot", "TinyTFM"),
        Candidate("LogisticRegression", "LogisticRegression"),
        Candidate("LightGBM", "LightGBM"),
        Candidate("RandomForest", "RandomForest", model_params={"n_estimators": 300}),
        Candidate("TinyTFM LoRA", "TinyTFM", "peft", _FINE_TUNE | {"peft_config": {"r": 8, "lora_alpha": 16}}),
        Candidate("TinyTFM full FT", "TinyTFM", "base-ft", _FINE_TUNE),
    ]


def select_candidates(names: str, X: Any, y: Any) -> list[Candidate]:
    """The default candidates named in a comma-separated list (case and punctuation ignored)."""
    from tightfit.errors import unknown_key
    from tightfit.tabular.backends import normalise_name

    available = {normalise_name(c.label): c for c in default_candidates(infer_task(y))}
    chosen = []
    for name in filter(None, (n.strip() for n in names.split(","))):
        if normalise_name(name) not in available:
            raise unknown_key(name, "--models", [c.label for c in available.values()])
        chosen.append(available[normalise_name(name)])
    return chosen


def default_table():
    """The embedded default: Wisconsin breast cancer (569 rows, 30 features, ``diagnosis`` benign/malignant),
    shipped inside scikit-learn, so ``tightfit fit`` runs offline with no data argument."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame = data.frame.drop(columns="target")
    frame["diagnosis"] = data.target_names[data.target]
    return frame


def infer_task(y: Any) -> str:
    """Classification for labels (strings, booleans, categories, or at most 20 distinct integers); else
    regression."""
    from tightfit.tabular.pipeline import as_array

    y = as_array(y)
    if y.dtype.kind in "OUSb" or str(y.dtype) == "category":
        return "classification"
    distinct = len(np.unique(y[~np.isnan(y)] if y.dtype.kind == "f" else y))
    integral = y.dtype.kind in "iu" or (y.dtype.kind == "f" and np.allclose(y[~np.isnan(y)] % 1, 0))
    return "classification" if integral and distinct <= 20 else "regression"


def _evaluate_candidate(candidate: Candidate, task: str, X, y, cv: int, seed: int, time_left: float | None):
    """In the child: cross-validate, refit on everything, time single-row predictions, measure size."""
    from sklearn.model_selection import KFold, StratifiedKFold

    from tightfit.measure import latency, peak_rss
    from tightfit.tabular.pipeline import TabularPipeline

    def build() -> TabularPipeline:
        tuning = dict(candidate.tuning_params)
        budget = Budget()
        if candidate.tuning_strategy != "inference":
            tuning |= {"show_progress": False, "seed": seed}
            if time_left is not None:  # every fine-tune (cv folds + the refit) gets its share of the time
                budget = Budget(time=max(1.0, 0.6 * time_left / (cv + 1)))
        return TabularPipeline(
            candidate.model_name, task_type=task, tuning_strategy=candidate.tuning_strategy, tuning_params=tuning,
            model_params=candidate.model_params, budget=budget,
        )  # fmt: skip

    splitter = (StratifiedKFold if task == "classification" else KFold)(cv, shuffle=True, random_state=seed)
    take = (lambda d, i: d.iloc[i]) if hasattr(X, "iloc") else (lambda d, i: d[i])
    primary, secondary = _SCORES[task]
    scores, seconds = {primary: [], secondary: []}, []
    for train, test in splitter.split(np.zeros(len(y)), y):
        started = time.perf_counter()
        pipe = build().fit(take(X, train), y[train])
        seconds.append(time.perf_counter() - started)
        metrics = pipe.evaluate(take(X, test), y[test])
        for name in scores:
            scores[name].append(metrics[name])
    started = time.perf_counter()
    final = build().fit(X, y)
    refit_s = time.perf_counter() - started
    one_row = take(X, np.arange(1))
    timing = latency(final.predict, one_row, warmup=2, min_repeats=10, max_repeats=200, min_time_s=0.3)
    return {
        "pipeline": final,
        primary: float(np.mean(scores[primary])),
        f"{primary}_std": float(np.std(scores[primary])),
        secondary: float(np.mean(scores[secondary])),
        "fit_seconds": float(np.median(seconds)),
        "refit_seconds": refit_s,
        "latency_p50_s": timing.p50,
        "latency_p95_s": timing.p95,
        "model_bytes": len(pickle.dumps(final)),
        "peak_memory_bytes": peak_rss(),
    }


class AutoFit:
    """Search the candidates under ``budget``; see the module docstring.

    Parameters
    ----------
    budget : Budget, default=None
        ``memory`` caps each candidate's process; ``time`` bounds the whole search; ``latency`` (p95 of a
        one-row prediction) and ``size`` (pickled pipeline) drop candidates that exceed them.
    task_type : {"auto", "classification", "regression"}, default="auto"
    candidates : list of Candidate, default=None
        The search order; None uses :func:`default_candidates`.
    cv : int, default=3
        Cross-validation folds for the quality figure.
    random_state : int, default=0
    verbose : bool, default=True
        A progress bar over the candidates.
    """

    def __init__(
        self,
        budget: Budget | None = None,
        task_type: str = "auto",
        candidates: list[Candidate] | None = None,
        cv: int = 3,
        random_state: int = 0,
        verbose: bool = True,
    ) -> None:
        if budget is not None and not isinstance(budget, Budget):
            raise bad_param("budget", "AutoFit", "None or a Budget", type(budget).__name__)
        if task_type not in ("auto", "classification", "regression"):
            raise bad_param("task_type", "AutoFit", ["auto", "classification", "regression"], task_type)
        if isinstance(cv, bool) or not isinstance(cv, int) or cv < 2:
            raise bad_param("cv", "AutoFit", "an int >= 2", cv)
        if candidates is not None and (not candidates or not all(isinstance(c, Candidate) for c in candidates)):
            raise bad_param("candidates", "AutoFit", "None or a non-empty list of Candidate", candidates)
        self.budget = budget or Budget()
        self.task_type = task_type
        self.candidates = candidates
        self.cv = cv
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X: Any, y: Any) -> AutoFit:
        """Run the search; ``best_`` is the chosen pipeline (refitted on all rows), ``leaderboard_`` every
        candidate with its figures, verdict and reason, ``binding_`` the limit that dropped or skipped the most
        candidates (None when every candidate fitted)."""
        from tightfit.guard import run_limited
        from tightfit.tabular.pipeline import TabularPipeline, as_array
        from tightfit.train.progress import StepProgress

        y = as_array(y)
        if len(y) != len(X):
            raise DataError(f"X has {len(X)} rows but y has {len(y)}; they must match.")
        self.task_ = infer_task(y) if self.task_type == "auto" else self.task_type
        if self.task_ == "classification" and np.min(np.unique(y, return_counts=True)[1]) < self.cv:
            raise DataError(f"a class of y has fewer than cv={self.cv} rows; lower cv or merge rare classes.")
        candidates = self.candidates or default_candidates(self.task_)
        for c in candidates:  # every option checked before anything runs
            TabularPipeline(c.model_name, task_type=self.task_, tuning_strategy=c.tuning_strategy,
                            tuning_params=c.tuning_params or None, model_params=c.model_params)  # fmt: skip
        started = time.perf_counter()
        self.results_: list[dict[str, Any]] = []
        pipelines: dict[str, Any] = {}
        with StepProgress(len(candidates), self.verbose, description="candidates") as progress:
            for cand in candidates:
                row = {
                    "model": cand.label,
                    "strategy": cand.tuning_strategy,
                    "verdict": "",
                    "reason": "",
                    "limit": None,
                }
                left = None if self.budget.time is None else self.budget.time - (time.perf_counter() - started)
                if left is not None and left < _MIN_SECONDS:
                    reason = f"time budget spent ({format_seconds(self.budget.time)})"
                    row |= {"verdict": "skipped", "reason": reason, "limit": "time"}
                else:
                    try:
                        measured = run_limited(
                            _evaluate_candidate, cand, self.task_, X, y, self.cv, self.random_state, left,
                            memory=self.budget.memory, time=left,
                        )  # fmt: skip
                        pipelines[cand.label] = measured.pop("pipeline")
                        row |= measured
                        row["verdict"], row["reason"], row["limit"] = self._limits_verdict(measured)
                    except BudgetExceeded as exc:
                        reason = (
                            f"did not finish in the {format_seconds(exc.limit)} left of the time budget"
                            if exc.kind == "time"
                            else f"memory over the {format_bytes(exc.limit)} budget ({exc.detail or exc})"
                        )
                        row |= {"verdict": "dropped", "reason": reason, "limit": exc.kind}
                    except Exception as exc:  # one candidate's failure is its row, with the reason
                        row |= {"verdict": "failed", "reason": f"{type(exc).__name__}: {exc}"}
                self.results_.append(row)
                progress.advance()
        self.search_seconds_ = time.perf_counter() - started
        primary = self.metric
        fits = [r for r in self.results_ if r["verdict"] == "fits"]
        broken = [r["limit"] for r in self.results_ if r.get("limit")]
        self.binding_ = max(sorted(set(broken)), key=broken.count) if broken else None
        if not fits:
            kind = self.binding_ or "time"
            reasons = "; ".join(f"{r['model']}: {r['reason']}" for r in self.results_)
            raise BudgetExceeded(kind, getattr(self.budget, kind) or 0, None, detail=f"no candidate fits: {reasons}")
        best = max(fits, key=lambda r: (round(r[primary], 4), -r["fit_seconds"]))
        best["verdict"], best["reason"] = "chosen", f"best cross-validated {primary} among those that fit"
        self.best_ = pipelines[best["model"]]
        self.best_name_ = best["model"]
        return self

    def _limits_verdict(self, measured: dict[str, Any]) -> tuple[str, str, str | None]:
        b = self.budget
        if b.latency is not None and measured["latency_p95_s"] > b.latency:
            p95 = format_seconds(measured["latency_p95_s"])
            return "dropped", f"latency p95 {p95} > {format_seconds(b.latency)}", "latency"
        if b.size is not None and measured["model_bytes"] > b.size:
            return "dropped", f"size {format_bytes(measured['model_bytes'])} > {format_bytes(b.size)}", "size"
        return "fits", "", None

    @property
    def leaderboard_(self):
        """One row per candidate: quality, fit seconds, latency p95, peak memory, size, verdict, reason."""
        import pandas as pd

        if not hasattr(self, "results_"):
            raise ConfigError("AutoFit is not fitted yet; call fit(X, y) first.")
        return pd.DataFrame(self.results_)

    def predict(self, X: Any) -> np.ndarray:
        return self.best_.predict(X)

    def save(self, out: str | Path) -> Path:
        """Write ``model/pipeline.tfp`` and ``run.json`` (budget, machine, versions, leaderboard) into ``out``;
        returns ``out``. ``tightfit.report.write_fit_report`` adds the HTML report."""
        from tightfit.files import atomic_write_text
        from tightfit.hardware import Hardware
        from tightfit.runinfo import environment_info

        if not hasattr(self, "best_"):
            raise ConfigError("AutoFit is not fitted yet; call fit(X, y) first.")
        out = Path(out)
        (out / "model").mkdir(parents=True, exist_ok=True)
        self.best_.save(out / "model" / "pipeline.tfp")
        atomic_write_text(
            out / "run.json",
            json.dumps(self.run_info(Hardware.probe().summary(), environment_info()), indent=2, default=str),
        )
        return out

    @property
    def metric(self) -> str:
        """The cross-validated score that ranks the candidates: ROC AUC or R²."""
        return _SCORES[self.task_][0]

    def run_info(self, machine: dict[str, Any], environment: dict[str, Any]) -> dict[str, Any]:
        """What ``run.json`` holds."""
        return {
            "task": self.task_,
            "metric": self.metric,
            "budget": self.budget.to_dict(),
            "chosen": self.best_name_,
            "binding": self.binding_,
            "search_seconds": self.search_seconds_,
            "cv": self.cv,
            "random_state": self.random_state,
            "machine": machine,
            "environment": environment,
            "leaderboard": self.results_,
        }
