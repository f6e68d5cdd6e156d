"""`Forecaster`: the best forecaster this machine can validate within a time budget.

``fit(df)`` checks the series, adapts the stack to them (short series: no seasonal models, augmented windows
for the neural ones), then runs the models cheapest first through the search core
(:func:`tightfit.search.run_candidates`, so the leaderboard speaks every search's vocabulary). Each is scored
by rolling-origin cross-validation: ``n_windows`` cut-offs, each forecasting the next ``horizon`` points from
the history before it. The time budget covers the whole fit. On Linux each model validates in a guarded child
forked from a warm server that imported statsforecast once (about 0.1 s a model), under the time left: a model
still running at the deadline is stopped, and the models that finished are kept. Windows run newest first, so
a model's first window is its costliest; when the others and its final fit would not finish in the time left,
it validates on as many of the most recent windows as fit beside its final fit (said in ``notes_``), and is
skipped, with that arithmetic as the reason, only when not even its final fit would. The time the best models'
final fits need (their newest window, scaled to all the data) is held back from the models validated after them.
Elsewhere models run in this process, where a statsforecast fit cannot be interrupted: the budget can then be
overrun by one window of one model.

By default the forecast is the equal mean of AutoETS, AutoTheta and AutoARIMA, each refitted on all data
(AutoARIMA alone on series of at most 50 points), unless the best model by ``metric`` (mean over series and windows)
beats it clearly on the validation windows (:func:`~tightfit.timeseries.combine.choose_statistical`);
``ensemble=None`` takes the best model alone, ``"median"`` the point-wise median of the top ``top_k``. Intervals are
calibrated on the validation windows (:mod:`tightfit.timeseries.intervals`): models without their own get conformal
ones from their errors, and a model's own are widened by as much as they missed there (``interval_scales_``); a
weighted mean of models with their own (the default's) is calibrated as the one forecast it is: the mean of their
bounds, widened by as much as the combined forecast missed on the windows. A ``latency`` budget is held per series:
each model's fitted form from its last window forecasts single series ``LATENCY_CALLS`` times, and a model whose
p95 is over the limit is not chosen.

The fitted members forecast newer data without a refit (``predict(new_history)``), and ``save``/``load`` keep
them in a folder that loads without running code (:mod:`tightfit.timeseries.saved`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tightfit.budget import Budget
from tightfit.errors import ConfigError, DataError, bad_param
from tightfit.params import Interval, Options, check
from tightfit.timeseries.augment import Augmenter
from tightfit.timeseries.combine import (
    CLEAR_GAIN_STANDARD_ERRORS,
    ENSEMBLE,
    ENSEMBLES,
    SHORT_HISTORY,
    ValidationRecord,
    choose_combination,
    choose_like_for_like,
    combine_records,
    combine_values,
    inverse_error_weights,
    statistical_prior,
)
from tightfit.timeseries.data import SeriesSet, check_horizon, check_series, next_dates, seasonality
from tightfit.timeseries.intervals import conformal_widths, reach_scale
from tightfit.timeseries.metrics import forecast_scores, mase_scale
from tightfit.timeseries.models import (
    MAX_STATE_SPACE_SEASON,
    MODELS,
    STACK,
    check_chronos_path,
    model_stack,
    series_values,
)
from tightfit.units import format_seconds

__all__ = ["METRICS", "Forecaster"]

log = logging.getLogger(__name__)

METRICS = ("mase", "smape", "rmse", "mae")
SEASONAL = ("SeasonalNaive",)
SHORT_POINTS = 50
# imported once by the guard's warm server, not by every model's child (statsforecast alone takes 3 s)
CHILD_IMPORTS = ("statsforecast.models", "lightgbm", "tightfit.train", "tightfit.timeseries.forecaster")
SERIES_PER_JOB = 25
LATENCY_CALLS = 20  # single-series forecasts timed per model when a latency budget is set
CHILD_START_S = 0.25  # a forked child's start and result transfer (measured ~0.12 s on elnino, 2 cores): held too
_SHORT_PRIOR = f"the prior for series of at most {SHORT_HISTORY} points"  # AutoARIMA alone, in the leaderboard's words
SHORT_AUGMENT = Augmenter(jitter=0.5, scaling=0.5, magnitude_warp=0.3, time_warp=0.3, window_slice=0.3)


class Forecaster:
    """Rolling-origin selection of a forecaster under a time budget.

    Parameters
    ----------
    horizon : int
        Steps to forecast.
    season_length : int or "auto", default="auto"
        Points per season (12 for monthly data with a yearly cycle); 1 means no seasonality. ``"auto"``: the one
        the series' frequency implies (:func:`tightfit.timeseries.data.seasonality`: monthly 12, quarterly 4,
        weekly 52, daily 7, business-daily 5, hourly 24; yearly, integer steps and minutes 1), said in ``notes_``.
    budget : Budget, default=None
        ``time`` bounds the whole fit (validation of every model and the final fit); ``latency`` bounds the p95
        of forecasting one series with a fitted model (``predict(new_history)``).
    models : "auto" or sequence of str, default="auto"
        ``"auto"``: the whole stack (``STACK``) cheapest first; else the named models in that order.
    metric : {"mase", "smape", "rmse", "mae"}, default="mase"
        M4 definitions (``timeseries.metrics``); lower is better.
    n_windows : int, default=3
        Validation cut-offs, each ``step_size`` apart; fewer when the shortest series cannot hold them (said in
        ``notes_``).
    step_size : int, default=None
        Points between cut-offs (statsforecast's ``step_size``). ``None``: a horizon (disjoint windows), or closer
        when the shortest series cannot hold ``n_windows`` disjoint ones — the windows then overlap (said in
        ``notes_``).
    ensemble : {"statistical", None, "median", "weighted", "auto"}, default="statistical"
        ``"statistical"``: the equal-weight mean of AutoETS, AutoTheta and AutoARIMA (AutoARIMA alone when the
        series' median length is at most 50 points), unless the best validated model beats it by more than 2
        standard errors of the per-window differences (then that model alone);
        ``None``: the best model alone; ``"median"``: the median of the ``top_k`` best; ``"weighted"``: their mean
        weighted by inverse validation error; ``"auto"``: whichever of the best alone, weighted means of the top
        2..``top_k`` and medians of the top 3..``top_k`` scores lowest on the validation windows
        (:mod:`tightfit.timeseries.combine`; scored exactly from each model's stored window errors).
    level : sequence of int, default=(80, 95)
        Prediction interval levels in percent.
    augment : Augmenter, default=None
        Augmentation of the neural models' training windows; ``None``: on for short series only.
    chronos_path : str, default=None
        A local Chronos-Bolt checkpoint folder (``config.json`` with a ``chronos_config`` and the weights, as
        ``save_pretrained`` writes it) for the zero-shot model; needs ``pip install 'tightfit[chronos]'``.
    executor : {None, "local", "inline", "ray"}, default=None
        Where each model is validated and fitted: ``None`` picks a guarded child where this platform forks one
        cheaply, else this process; ``"ray"``: Ray tasks, still capped by the guard inside each
        (:mod:`tightfit.search.executors`).
    """

    def __init__(
        self,
        horizon: int,
        season_length: int | str = "auto",
        budget: Budget | None = None,
        models: str | Sequence[str] = "auto",
        metric: str = "mase",
        n_windows: int = 3,
        step_size: int | None = None,
        ensemble: str | None = "statistical",
        top_k: int = 3,
        level: Sequence[int] = (80, 95),
        augment: Augmenter | None = None,
        chronos_path: str | None = None,
        random_state: int = 0,
        verbose: bool = True,
        executor: str | None = None,
    ) -> None:
        from tightfit.search.executors import check_executor

        self.horizon = check_horizon(horizon)
        check(
            "Forecaster",
            season_length=(season_length, Options("auto"), Interval(int, 1)),
            budget=(budget, None, Budget),
            metric=(metric, Options(*METRICS)),
            n_windows=(n_windows, Interval(int, 1)),
            step_size=(step_size, None, Interval(int, 1)),
            ensemble=(ensemble, None, Options(*ENSEMBLES)),
            top_k=(top_k, Interval(int, 2)),
            augment=(augment, None, Augmenter),
            verbose=(verbose, bool),
        )
        check_executor("Forecaster", executor, optional=True)
        if not isinstance(level, (list, tuple)) or not all(Interval(int, 0, 100, "neither").accepts(v) for v in level):
            raise bad_param("level", "Forecaster", "a sequence of ints in (0, 100)", level)
        if models != "auto" and (not isinstance(models, (list, tuple)) or not models):
            raise bad_param("models", "Forecaster", f"'auto' or a non-empty list from {STACK}", models)
        for name in [] if models == "auto" else models:
            MODELS.technique(name)  # an unknown id: ConfigError with the closest one
        self.season_length, self.metric, self.n_windows, self.ensemble = season_length, metric, n_windows, ensemble
        self.step_size = step_size
        self.budget = budget or Budget()
        self.models = list(STACK) if models == "auto" else list(models)
        self.top_k, self.level, self.augment = top_k, tuple(sorted(level)), augment
        self.chronos_path = None if chronos_path is None else check_chronos_path(chronos_path)
        self.random_state = random_state
        self.verbose = verbose
        self.executor = executor

    # -- fit -----------------------------------------------------------------------------------------------
    def fit(self, df: Any, deadline: Any = None, then_save: bool = False, pretrain: Any = None) -> Forecaster:
        """Validate every model that fits the budget, pick the best, forecast with it; returns self.
        ``pretrain``: related series (long format, the same frequency): each neural model also enters as
        ``<name>+pretrained``, pretrained on their windows and fine-tuned on ``df``'s, validated the same way.
        ``deadline``: a :class:`~tightfit.measure.Deadline` already running (the CLI's, counted from the
        command's start); default: ``budget.time`` from now. ``then_save``: the caller saves the forecaster within
        the same deadline, so the time each member takes to save (measured on a sample of its series after its
        newest window) is held back with its final fit."""
        import functools

        from tightfit import guard
        from tightfit.measure import Deadline
        from tightfit.search import Entry, run_candidates

        deadline = deadline or Deadline(self.budget.time)
        executor = self.executor or ("local" if guard.forks_children() else "inline")
        guard.warm_up(CHILD_IMPORTS)  # the server's imports overlap the checks below
        self.series_ = series = check_series(df, self.horizon)
        self.notes_: list[str] = [series.note] if series.note else []
        season, cutoffs, augment, names = self._adapt(series)
        stack = model_stack(names, augment, self.chronos_path, self.budget.device, self._statistical_jobs(series))
        if pretrain is not None:
            stack = _with_transfer(stack, self._related(pretrain, series))
        history = int(np.median(list(series.lengths.values())))  # the statistical prior's length
        held = len(statistical_prior(history)) if self.ensemble == "statistical" else self.top_k if self.ensemble else 1
        reserve = _FinalFitReserve(deadline, held, CHILD_START_S if executor == "local" else 0.0)
        self.freq_ = series.freq
        applies = ("latency",) if self.budget.latency is not None else ()
        evaluate = functools.partial(self._validate, series, season, cutoffs, then_save=then_save)
        self.search_ = run_candidates(
            [Entry(m.name, m) for m in stack], self.budget, evaluate,
            executor=executor, applies=applies, deadline=reserve, check_entry=reserve.hold, preload=CHILD_IMPORTS,
            min_seconds=CHILD_START_S,
            choose=functools.partial(choose_like_for_like, metric=self.metric), techniques=MODELS, entity="model",
            verbose=self.verbose,
        )  # fmt: skip
        ranked = sorted((e for e in self.search_.entries if e.status in ("chosen", "fits")),
                        key=lambda e: e.status != "chosen")  # fmt: skip
        if not ranked:
            self._raise_none_validated(deadline)
        for entry in ranked:
            if "fewer_windows" in entry.details:
                self.notes_.append(f"{entry.name} {entry.details['fewer_windows']}")
        ranked = [ranked[0], *sorted(ranked[1:], key=lambda e: e.measured.quality)]
        self.cv_ = {e.name: e.artefact for e in ranked}
        self.season_length_used_ = season
        scores = {e.name: e.measured.quality for e in ranked}
        self.combination_, self.combinations_ = choose_combination(
            self.cv_, [e.name for e in ranked], scores, self.metric, self.ensemble, self.top_k, history)  # fmt: skip
        members, fits = self._final_fits(self._fit_order(ranked), season, deadline, executor,
                                         len(self.combination_.members))  # fmt: skip
        self.members_ = [e.name for e in members]
        self.weights_ = self._member_weights(scores)
        self.fitted_ = {e.name: fitted for e, (fitted, _) in zip(members, fits, strict=True)}
        self.widths_ = {name: conformal_widths(self.cv_[name].errors, self.level) for name in self.fitted_}
        self.interval_scales_ = self._interval_scales()
        forecasts = [self._with_intervals(name, f) for name, (_, f) in zip(self.members_, fits, strict=True)]
        self.chosen_ = ENSEMBLE if len(members) > 1 else members[0].name
        if self._prior_chosen():
            self._explain_prior(ranked[0], members)
        elif self._beat_the_prior(members[0]):
            alone, prior = self.combinations_  # the best model beat the statistical prior clearly: say by how much
            what = f"the {prior.describe()}" if len(prior.members) > 1 else f"{prior.members[0]}, {_SHORT_PRIOR}"
            members[0].verdict.reason = (
                f"clearly better than {what}: validation {self.metric} {alone.score:.4g} vs {prior.score:.4g}, "
                f"better by more than {CLEAR_GAIN_STANDARD_ERRORS:g} standard errors of the per-window differences"
            )
        elif len(members) > 1:
            how = "median" if self.weights_ is None else "weighted mean"
            members[0].verdict.reason += f"; the forecast is the {how} of {', '.join(self.members_)}"
            if self.ensemble == "auto":
                single = self.combinations_[0]
                members[0].verdict.reason += (f" (validation {self.metric} {self.combination_.score:.4g} vs "
                                              f"{single.score:.4g} for {single.members[0]} alone)")  # fmt: skip
        self.forecast_ = self._combine(forecasts)
        self.fit_seconds_ = deadline.elapsed()
        return self

    def _related(self, pretrain: Any, series: SeriesSet) -> pd.DataFrame:
        """``pretrain`` checked like ``df``, and at the same frequency (a DataError naming it otherwise)."""
        try:
            related = check_series(pretrain, self.horizon)
        except DataError as exc:
            raise DataError(f"pretrain: {exc}") from None
        if not _same_steps(related, series.freq):
            raise DataError(f"pretrain has frequency {related.freq!r}, df has {series.freq!r}: related series must "
                            "step like the ones forecast (resample them first).")  # fmt: skip
        return related.frame

    def _raise_none_validated(self, deadline) -> None:
        """No model fits: a ``BudgetExceeded`` when a limit stopped them (time first; latency with the fastest
        model's p95), a ``DataError`` when the data did."""
        from tightfit.errors import BudgetExceeded

        entries = self.search_.entries
        reasons = {e.name: e.reason for e in entries}
        detail = f"no model finished validation: {reasons}"
        if any(e.verdict.limit == "time" for e in entries):  # the budget, not the data
            raise BudgetExceeded("time", self.budget.time, deadline.elapsed(), detail=detail)
        latencies = [e.measured.latency_p95_s for e in entries if e.verdict.limit == "latency"]
        if latencies:
            raise BudgetExceeded("latency", self.budget.latency, min(latencies), detail=detail,
                                 hint="the fastest model's p95 is the observed figure")  # fmt: skip
        raise DataError(detail)

    def _member_weights(self, scores: dict[str, float]) -> tuple[float, ...] | None:
        """The weights of the members that were fitted (inverse validation error, renormalised when a member's final
        fit could not finish and the next best took its place; equal for the statistical prior); None: the median
        combines them."""
        if len(self.members_) == 1:
            return (1.0,)
        if self.combination_.weights is None:
            return None
        if self._prior_chosen():
            return (1.0 / len(self.members_),) * len(self.members_)
        return inverse_error_weights([scores[name] for name in self.members_])

    def _weighed_the_prior(self) -> bool:
        """Whether the best model was weighed against the statistical prior (``combinations_`` is [best alone,
        the prior])."""
        return self.ensemble == "statistical" and len(self.combinations_) == 2

    def _prior_chosen(self) -> bool:
        """Whether the forecast is the statistical prior (``ensemble="statistical"`` and no model clearly better)."""
        return self._weighed_the_prior() and self.combination_ is self.combinations_[1]

    def _beat_the_prior(self, forecasting) -> bool:
        """Whether ``forecasting`` (the entry whose forecast is given) is the best model, chosen over the
        statistical prior because it validated clearly better."""
        if not self._weighed_the_prior():
            return False
        return forecasting.status == "chosen" and forecasting.name == self.combinations_[0].members[0]

    def _fit_order(self, ranked: list) -> list:
        """The entries whose final fits make the forecast, in the order they are tried: the prior's members only
        (one that cannot finish leaves the mean of the others), else the validation ranking (the next best takes
        a member's place)."""
        if self._prior_chosen():
            return [e for name in self.combination_.members for e in ranked if e.name == name]
        return ranked

    def _explain_prior(self, best, members: list) -> None:
        """The leaderboard's words when the prior is the forecast: its first fitted member carries ``chosen`` and
        both validation scores; the best single model (the search's choice), unless that member, says why it is not
        alone. A verdict the final fits gave (over the time left, fitted past the deadline) is kept."""
        from tightfit.search import Verdict

        alone, prior = self.combinations_
        versus = (f"validation {self.metric} {prior.score:.4g} vs {alone.score:.4g} for {best.name} alone, not better "
                  f"by {CLEAR_GAIN_STANDARD_ERRORS:g} standard errors of the per-window differences")  # fmt: skip
        if prior.members == (best.name,):  # the short prior validated best too
            versus = f"validation {self.metric} {prior.score:.4g}, also the best single model"
        if best.status == "chosen" and best is not members[0]:
            best.verdict = Verdict.fits("a member of the statistical mean" if best in members
                                        else f"best single model, but {versus}")  # fmt: skip
        if len(members) > 1:
            names = ", ".join(e.name for e in members)
            members[0].verdict = Verdict.chosen(f"the forecast is the equal mean of {names} ({versus})")
        elif len(prior.members) == 1 and members[0].name == prior.members[0]:  # the short-history prior
            members[0].verdict = Verdict.chosen(f"{_SHORT_PRIOR} ({versus})")
        elif members[0].status != "chosen":
            members[0].verdict = Verdict.chosen(f"the one member of the statistical mean whose final fit finished "
                                                f"({versus})")  # fmt: skip

    def _final_fits(self, ranked: list, season: int, deadline, executor: str, wanted: int = 1) -> tuple[list, list]:
        """Fit the forecast's ``wanted`` members on all data within the time left (each in a guarded child where the
        guard forks), best first. A model whose predicted final fit (and save, with ``then_save``) does not fit the
        time left is passed over with that arithmetic, one stopped at the deadline is left out, and the next
        best takes its place; when none finishes, the validated model with the shortest fit forecasts instead
        (the cheapest that can finish), and the leaderboard says so."""
        from tightfit.errors import BudgetExceeded
        from tightfit.search import Verdict

        members, forecasts, passed = [], [], []
        for entry in ranked:
            if len(members) == wanted:
                break
            left, need = deadline.left(), _final_cost(entry)
            what = "final fit and save" if "save_estimate_s" in entry.details else "final fit"
            if left is not None and need > left:
                entry.verdict = Verdict.over_limit(
                    "time",
                    need,
                    left,
                    f"validated, but its {what} need ~{format_seconds(need)}, {format_seconds(max(left, 0))} left",
                )
                passed.append(entry)
                continue
            try:
                fit, seconds = self._final_fit(entry.spec, season, left, executor)
            except BudgetExceeded as exc:
                if exc.kind != "time":
                    raise
                entry.verdict = Verdict.over_limit("time", None, self.budget.time, (
                    "validated, but its final fit on all data did not finish in the time left"))  # fmt: skip
                passed.append(entry)
                continue
            members.append(entry)
            forecasts.append(fit)
            entry.measured.extra["final_fit_s"] = seconds
        if not members:  # never no forecast: the cheapest model that can finish does, past the deadline
            fallback = min(ranked, key=lambda e: e.measured.fit_s)
            fit, seconds = self._final_fit(fallback.spec, season, None, executor)
            fallback.measured.extra["final_fit_s"] = seconds
            fallback.verdict = Verdict.chosen(
                f"the final fit of {', '.join(e.name for e in passed)} could not finish in the time left; "
                f"{fallback.name}, the fastest validated model, was fitted past the deadline in {seconds:.2f} s"
            )  # fmt: skip
            self.notes_.append(fallback.verdict.reason)
            return [fallback], [fit]
        if members[0] is not ranked[0]:  # the best could not finish: the best that did is chosen
            members[0].verdict = Verdict.chosen(f"the best whose final fit finished in time ({ranked[0].name}'s could "
                                                "not)")  # fmt: skip
        return members, forecasts

    def _final_fit(self, model, season: int, left: float | None, executor: str) -> tuple[tuple, float]:
        """(fitted model, its forecast) on all data, and the seconds it took."""
        import time

        from tightfit.search.executors import EXECUTORS

        run = EXECUTORS[executor]
        until = None if left is None else time.perf_counter() + left
        guarded = run(self._fit, model, self.series_.frame, season, left, memory=self.budget.memory,
                      time=left, cuda_memory=None, preload=CHILD_IMPORTS, until=until)  # fmt: skip
        return guarded.value, guarded.wall_s

    @property
    def leaderboard_(self) -> pd.DataFrame:
        """One row per model: verdict, reason, validation metrics, fit times, peak memory, ``member`` (in the
        forecast)."""
        if hasattr(self, "saved_leaderboard_"):  # loaded from a folder: the board it was saved with
            return self.saved_leaderboard_.copy()
        if not hasattr(self, "search_"):
            raise ConfigError("this Forecaster is not fitted yet; call fit(df) first.")
        board = self.search_.to_frame()
        board["member"] = board["model"].isin(self.members_)
        return board

    def _adapt(self, series: SeriesSet) -> tuple[int, list[int], Augmenter | None, list[str]]:
        """The season, the validation cut-offs (points before each series' end, newest first), the augmentation
        and the models, adapted to the shortest series."""
        shortest = min(series.lengths.values())
        short_id = min(series.lengths, key=series.lengths.get)
        if series.exogenous:
            self.notes_.append(
                f"columns {series.exogenous} are not used: no model of the stack takes exogenous inputs yet"
            )
        season, names, augment = self.season_length, list(self.models), self.augment
        if season == "auto":
            season = seasonality(series.freq)
            if season > 1:
                self.notes_.append(f"season length {season} from the frequency {series.freq} (season_length= or "
                                   "--season sets another; 1 turns it off)")  # fmt: skip
        if season > MAX_STATE_SPACE_SEASON and {"AutoETS", "AutoARIMA"} & set(names):
            self.notes_.append(
                f"AutoETS and AutoARIMA fit the series deseasonalised by MSTL (their own seasons stop at "
                f"{MAX_STATE_SPACE_SEASON}), which adds the season of {season} back"
            )
        if season > 1 and shortest < _minimum_train(season, self.horizon) + self.horizon:
            self.notes_.append(
                f"series {short_id!r} has {shortest} points (< 2 seasons of {season} and a horizon to validate on): "
                "seasonal models dropped, the others fitted without seasonality"
            )
            names = [n for n in names if n not in SEASONAL]
            season = 1
        if shortest < SHORT_POINTS and augment is None:
            augment = SHORT_AUGMENT
            self.notes_.append(f"short series ({shortest} points): the neural models train on augmented windows too")
        minimum_train = _minimum_train(season, self.horizon)
        room = shortest - minimum_train - self.horizon  # how far the oldest cut-off can move back from the newest
        if room < 0:
            raise DataError(
                f"series {short_id!r} has {shortest} points: validation needs at least {minimum_train + self.horizon} "
                f"({minimum_train} to train on and a horizon of {self.horizon} to score)."
            )
        step = self.step_size or self.horizon
        if self.step_size is None and room // step + 1 < self.n_windows and room > 0:  # too short: they overlap
            step = max(1, room // (self.n_windows - 1))
            self.notes_.append(
                f"series {short_id!r} has {shortest} points: validation windows start {step} apart "
                f"(overlapping), not a horizon ({self.horizon}) apart"
            )
        windows = min(self.n_windows, room // step + 1)
        if windows < self.n_windows:
            self.notes_.append(
                f"n_windows {self.n_windows} -> {windows}: series {short_id!r} has only {shortest} points"
            )
        return season, [self.horizon + i * step for i in range(windows)], augment, names

    def _statistical_jobs(self, series: SeriesSet) -> int:
        """statsforecast's processes: one per usable core once there are enough series to share (a worker
        process costs about as much to start as fitting ``SERIES_PER_JOB`` series with AutoETS)."""
        from tightfit.hardware import Hardware

        jobs = max(1, min(Hardware.probe().cores_usable, len(series.ids) // SERIES_PER_JOB))
        if jobs > 1:
            self.notes_.append(f"{len(series.ids)} series: the statistical models run on {jobs} processes")
        return jobs

    def _fit(self, model, frame: pd.DataFrame, season: int, left: float | None) -> tuple[Any, pd.DataFrame]:
        """One fit and its forecast; the neural models stop training in time to forecast before ``left`` seconds
        pass (a fifth is kept for their set-up and forecast), so they end on their own rather than being stopped."""
        time_s = None if left is None else max(0.8 * left, 0.05)
        fitted = model.fit(frame, self.horizon, self.freq_, season, self.level, self.random_state, time_s)
        return fitted, fitted.predict(frame, self.freq_, self.level)

    def _series_latency(self, fitted, frame: pd.DataFrame) -> list[float]:
        """Seconds of ``LATENCY_CALLS`` single-series forecasts (over up to that many series, after one warm-up
        call that builds any cached network or pipeline)."""
        from tightfit.measure import stopwatch

        ids = frame["unique_id"].unique()[:LATENCY_CALLS]
        groups = [g for _, g in frame[frame["unique_id"].isin(ids)].groupby("unique_id", sort=False)]
        fitted.predict(groups[0], self.freq_, self.level)
        return [stopwatch(fitted.predict, groups[i % len(groups)], self.freq_, self.level)[1]
                for i in range(LATENCY_CALLS)]  # fmt: skip

    def _validate(self, series: SeriesSet, season: int, cutoffs: list[int], model, time_left: float | None,
                  then_save: bool = False):  # fmt: skip
        """Rolling-origin validation of one model within ``time_left`` (the search's evaluate, in a guarded child
        where the guard forks), a window of ``horizon`` points after each cut-off (``cutoffs``: points before each
        series' end, newest first): its mean metrics and signed errors; with ``then_save``, its measured save
        time."""
        from tightfit.measure import Deadline, stopwatch
        from tightfit.search import Measured, Outcome, SkipEntry

        why_not = model.unavailable() if hasattr(model, "unavailable") else None
        if why_not:
            raise SkipEntry(why_not)
        clock = Deadline(time_left)  # this validation's time, from its start
        frame = series.frame
        position = frame.groupby("unique_id").cumcount()
        length = frame["unique_id"].map(series.lengths)
        scores, errors, truths, scales, seconds = [], [], [], [], []
        halves: dict[str, tuple[list, list]] = {}
        windows = len(cutoffs)
        planned, save_s = windows, 0.0
        for done, back in enumerate(cutoffs):  # newest first: the costliest window is timed first
            if done == planned:
                break
            left = clock.left()
            if done == 1 and left is not None:  # the first window measured the cost: fewer windows, or none
                planned = self._affordable_windows(seconds[0], left, windows, save_s)
                if planned == 1:
                    break
            if left is not None and left <= 0:
                raise SkipEntry("the time budget ran out during its validation", "time")
            cutoff = length - back
            train, test = frame[position < cutoff], frame[(position >= cutoff) & (position < cutoff + self.horizon)]
            (fitted, predicted), window_s = stopwatch(self._fit, model, train, season, left)
            seconds.append(window_s)
            if done == 0:
                newest = (fitted, train)  # the fitted form whose latency is measured below
                if then_save:
                    save_s = _save_seconds(fitted, len(series.ids))
            merged = test.merge(predicted, on=["unique_id", "ds"], how="left")
            if merged["mean"].isna().any():
                raise DataError("forecast dates do not line up with the series")
            histories = series_values(train)
            for uid, group in merged.groupby("unique_id", sort=False):
                history = histories[uid]
                truth, guess = group["y"].to_numpy(), group["mean"].to_numpy()
                scale = mase_scale(history, season)
                scores.append(forecast_scores(truth, guess, scale))
                errors.append(truth - guess)
                truths.append(truth)
                scales.append(scale)
                for lv in self.level:
                    if f"lo-{lv}" in group:
                        below, above = halves.setdefault(str(lv), ([], []))
                        below.append(guess - group[f"lo-{lv}"].to_numpy())
                        above.append(group[f"hi-{lv}"].to_numpy() - guess)
        means = pd.DataFrame(scores).mean().to_dict()
        measured = Measured(
            quality=means.pop(self.metric), metric=self.metric, higher_is_better=False, fit_s=float(np.median(seconds)),
            extra=means | {"cv_s": float(np.sum(seconds)), "windows": len(seconds)},
        )  # fmt: skip
        if self.budget.latency is not None:  # the fitted form of the newest window, one series at a time
            latency = self._series_latency(*newest)
            measured.latency_p50_s, measured.latency_p95_s = np.percentile(latency, [50, 95]).tolist()
        shortest = min(series.lengths.values())  # the final fit sees the newest window's history and a horizon more
        final_estimate = seconds[0] * shortest / (shortest - self.horizon)
        details = {"final_fit_estimate_s": round(final_estimate, 3)}
        if then_save:
            details["save_estimate_s"] = round(save_s, 3)
        if len(seconds) < windows:
            details["fewer_windows"] = (
                f"validated on its {len(seconds)} most recent of {windows} windows: the first took "
                f"{format_seconds(seconds[0])}, and the time left held no more beside its final fit"
            )
        record = ValidationRecord(np.array(errors), np.array(truths), np.array(scales),  # rows: series x windows
                                  {lv: (np.array(b), np.array(a)) for lv, (b, a) in halves.items()})  # fmt: skip
        return Outcome(measured, artefact=record, details=details)

    def _affordable_windows(self, first_s: float, left: float, windows: int, save_s: float = 0.0) -> int:
        """How many windows (the one done included) fit in ``left`` seconds beside the final fit (and its save,
        ``save_s``), each costing about ``first_s``; a model that cannot fit even its final fit is skipped with the
        arithmetic."""
        from tightfit.search import SkipEntry

        units = int((left - save_s) // first_s) if first_s > 0 else windows
        if units < 1:
            saving = f" and saving it ~{format_seconds(save_s)}" if save_s else ""
            raise SkipEntry(
                f"the first validation window took {format_seconds(first_s)}; its final fit needs about as much"
                f"{saving}, {format_seconds(max(left, 0))} left", "time")  # fmt: skip
        return min(windows, units)

    def _interval_scales(self) -> dict[str, dict[str, float]]:
        """Per fitted member, per level, the factor for its own intervals (:func:`reach_scale` of its windows). A
        weighted mean of members that all have their own is calibrated as one forecast instead: the factor, under
        ``"Ensemble"``, is measured on the combined forecast's windows against the weighted mean of the members'
        own bounds, which it scales. The mean errs less than its members: widening each by its own misses made
        intervals wider than the mean needs (``benchmarks/forecast_intervals.py``: MSIS lower in 5 of 6 columns)."""
        members = self.members_
        own = all(set(self.cv_[m].halves) == {str(lv) for lv in self.level} for m in members)
        if len(members) > 1 and self.weights_ is not None and own:
            return {ENSEMBLE: _reach_scales(combine_records(self.cv_, members, self.weights_))}
        return {name: _reach_scales(self.cv_[name]) for name in members}

    def _with_intervals(self, name: str, forecast: pd.DataFrame) -> pd.DataFrame:
        """The model's own intervals scaled by ``interval_scales_`` (see :meth:`_interval_scales`), or conformal
        ones from its validation errors when it has none (:mod:`tightfit.timeseries.intervals`)."""
        if all(f"lo-{lv}" in forecast for lv in self.level):
            return _widened(forecast, self.interval_scales_.get(name, {}), self.level)
        steps = np.tile(np.arange(self.horizon), len(forecast) // self.horizon)
        for lv in self.level:  # conformal quantiles of the same errors grow with the level: nested as they are
            width = np.asarray(self.widths_[name][str(lv)])[steps]
            forecast[f"lo-{lv}"], forecast[f"hi-{lv}"] = forecast["mean"] - width, forecast["mean"] + width
        return forecast

    def _combine(self, forecasts: list[pd.DataFrame]) -> pd.DataFrame:
        """The members' forecasts and bounds combined column by column (their median or weighted mean), the
        bounds scaled when the combination was calibrated as one forecast."""
        columns = ["mean", *[f"{side}-{lv}" for lv in self.level for side in ("lo", "hi")]]
        out = forecasts[0][["unique_id", "ds"]].copy()
        for column in columns:
            out[column] = combine_values([f[column].to_numpy() for f in forecasts], self.weights_)
        return _widened(out, self.interval_scales_.get(ENSEMBLE, {}), self.level)

    # -- results ---------------------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "forecast_"):
            raise ConfigError("this Forecaster is not fitted yet; call fit(df) first.")

    def predict(self, new_history: Any = None) -> pd.DataFrame:
        """unique_id, ds, <chosen name>, and <name>-lo-80 ... <name>-hi-95: the forecast made at fit, or, given
        ``new_history`` (long format, the same frequency), the ``horizon`` steps after each of its series from the
        fitted members without refitting them. What could not be done so (a series a per-series statistical model
        never saw is fitted on its own; a series shorter than a network's lookback is padded) is said in
        ``predict_notes_``."""
        self._check_fitted()
        forecast = self.forecast_ if new_history is None else self._forecast_new(new_history)
        bounds = [c for c in forecast.columns if c[:3] in ("lo-", "hi-")]
        rename = {"mean": self.chosen_} | {c: f"{self.chosen_}-{c}" for c in bounds}
        return forecast.rename(columns=rename).reset_index(drop=True)

    def _forecast_new(self, new_history: Any) -> pd.DataFrame:
        history = check_series(new_history, self.horizon)
        if not _same_steps(history, self.freq_):
            raise DataError(
                f"new_history has frequency {history.freq!r}; this Forecaster was fitted on {self.freq_!r} series."
            )
        self.predict_notes_ = [history.note] if history.note else []
        forecasts = []
        for name in self.members_:
            fitted = self.fitted_[name]
            unseen = fitted.unseen(history.frame) if hasattr(fitted, "unseen") else []
            if unseen:
                self.predict_notes_.append(f"{name}: {len(unseen)} series the fit never saw (first {unseen[0]!r}) "
                                           "were fitted on their own history")  # fmt: skip
            short = fitted.short(history.frame) if hasattr(fitted, "short") else []
            if short:
                self.predict_notes_.append(f"{name}: {len(short)} series shorter than its lookback of "
                                           f"{fitted.lookback} (first {short[0]!r}) were padded with their first "
                                           "value")  # fmt: skip
            forecast = fitted.predict(history.frame, self.freq_, self.level)
            forecasts.append(self._with_intervals(name, forecast))
        for note in self.predict_notes_:
            log.info(note)
        return self._combine(forecasts)

    def save(self, path: str | Path) -> Path:
        """Write the fitted forecaster into the folder ``path`` (replaced atomically) in a format that loads without
        running code; returns ``path``."""
        from tightfit.timeseries.saved import save_forecaster

        self._check_fitted()
        return save_forecaster(self, path)

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        """A forecaster saved by :meth:`save`: ``predict()`` gives the saved forecast, ``predict(new_history)``
        forecasts newer data; a damaged or foreign folder is a ``DataError`` naming the file."""
        from tightfit.timeseries.saved import load_forecaster

        return load_forecaster(path)

    def plot(self, path: str | Path, unique_id: str | None = None, history: int | None = None) -> Path:
        """History, forecast and intervals of one series (default: the first) as a PNG."""
        self._check_fitted()
        if not hasattr(self, "series_"):
            raise ConfigError("a loaded Forecaster keeps no history to plot; fit it, or plot predict(new_history).")
        from tightfit.viz import plot_forecast

        uid = str(unique_id) if unique_id is not None else self.series_.ids[0]
        if uid not in self.series_.lengths:
            raise bad_param("unique_id", "Forecaster.plot", self.series_.ids[:10], unique_id)
        past = self.series_.frame[self.series_.frame["unique_id"] == uid]
        past = past.tail(history or max(4 * self.horizon, 3 * self.season_length_used_))
        future = self.forecast_[self.forecast_["unique_id"] == uid]
        bands = [(lv, future[f"lo-{lv}"].to_numpy(), future[f"hi-{lv}"].to_numpy()) for lv in self.level]
        return plot_forecast(past["ds"], past["y"], future["ds"], future["mean"], bands, path, f"{uid}: {self.chosen_}")


SAVE_SAMPLE = 20  # per-series fitted models saved to time the whole save


def _minimum_train(season: int, horizon: int) -> int:
    """The fewest points a validation window trains on: two seasons, at least 10 and a horizon."""
    return max(2 * season, 10, horizon)


def _with_transfer(stack: list, related: pd.DataFrame) -> list:
    """The stack with a ``+pretrained`` variant after each neural model, pretraining on ``related``."""
    import dataclasses

    from tightfit.timeseries.models import NeuralForecaster

    out = []
    for model in stack:
        out.append(model)
        if isinstance(model, NeuralForecaster):
            out.append(dataclasses.replace(model, name=f"{model.name}+pretrained", pretrain=related))
    return out


def _final_cost(entry: Any) -> float:
    """Seconds a validated model's final fit is predicted to take, with its save when that was measured."""
    return entry.details["final_fit_estimate_s"] + entry.details.get("save_estimate_s", 0.0)


def _save_seconds(fitted: Any, n_series: int) -> float:
    """Seconds to save ``fitted`` (a member of ``n_series`` series), measured: per-series statistical models on a
    sample of ``SAVE_SAMPLE`` series, scaled (skops walks every fitted object: 4-13 ms a series here)."""
    import dataclasses
    import tempfile

    from tightfit.measure import stopwatch

    sample = fitted
    per_series = getattr(fitted, "per_series", {})
    if len(per_series) > SAVE_SAMPLE:
        sample = dataclasses.replace(fitted, per_series=dict(list(per_series.items())[:SAVE_SAMPLE]))
    with tempfile.TemporaryDirectory() as folder:
        if per_series:  # untimed: the first save imports and registers skops' machinery (~2.5 s here)
            dataclasses.replace(fitted, per_series=dict(list(per_series.items())[:1])).to_files(Path(folder), "warm")
        _, seconds = stopwatch(sample.to_files, Path(folder), "probe")
    return seconds * (len(per_series) / SAVE_SAMPLE if len(per_series) > SAVE_SAMPLE else 1.0)


def _reach_scales(record: ValidationRecord) -> dict[str, float]:
    """Per level, the factor for the intervals ``record``'s forecasts were validated with (:func:`reach_scale`)."""
    return {lv: reach_scale(rows, int(lv)) for lv, rows in record.reaches.items()}


def _widened(forecast: pd.DataFrame, scales: dict[str, float], levels: Sequence[int]) -> pd.DataFrame:
    """``forecast``'s bounds, per level (ascending), scaled about its mean by ``scales`` (absent: 1); a wider
    level's bounds always hold a narrower's (each level's scale is estimated on its own)."""
    mean, inner = forecast["mean"], None
    for lv in levels:
        scale = scales.get(str(lv), 1.0)
        lo, hi = mean - scale * (mean - forecast[f"lo-{lv}"]), mean + scale * (forecast[f"hi-{lv}"] - mean)
        if inner is not None:
            lo, hi = np.minimum(lo, inner[0]), np.maximum(hi, inner[1])
        forecast[f"lo-{lv}"], forecast[f"hi-{lv}"] = inner = lo, hi
    return forecast


def _same_steps(history: SeriesSet, freq: str | int) -> bool:
    """Whether ``history`` steps by ``freq``: equal integer steps, or the same next dates after its end (pandas
    may name one quarterly grid 'QS-OCT' or 'QS-JAN')."""
    if isinstance(freq, int) or isinstance(history.freq, int):
        return history.freq == freq
    last = history.frame["ds"].iloc[-1]
    return bool((next_dates(last, freq, 3) == next_dates(last, history.freq, 3)).all())


class _FinalFitReserve:
    """The search's deadline less the time the final fits of the forecast's current members need, so a model
    validated late cannot leave the best one without the time to fit on all data. ``hold`` (the search's
    ``check_entry``) adds each validated model's estimate; the ``members`` best by quality are held, each with
    ``overhead`` seconds for the process it runs in."""

    def __init__(self, deadline, members: int, overhead: float) -> None:
        self.deadline, self.members, self.overhead, self.seconds = deadline, members, overhead, deadline.seconds
        self._validated: list[tuple[float, float]] = []  # (quality, final-fit estimate in s)

    def elapsed(self) -> float:
        return self.deadline.elapsed()

    def held(self) -> float:
        return sum(seconds for _, seconds in sorted(self._validated)[: self.members])

    def left(self) -> float | None:
        left = self.deadline.left()
        return None if left is None else max(0.0, left - self.held())

    def hold(self, entry) -> None:
        self._validated.append((entry.measured.quality, _final_cost(entry) + self.overhead))
