"""`Forecaster`: the best forecaster this machine can validate within a time budget.

``fit(df)`` checks the series, adapts the stack to them (short series: no seasonal models, augmented windows
for the neural ones), then runs the models cheapest first. Each is scored by rolling-origin cross-validation:
``n_windows`` cut-offs, each forecasting the next ``horizon`` points from the history before it. A model's
first window is timed; when all its windows plus the final fit would not finish in the time left, the model
is skipped with that arithmetic as the reason, and its partial scores are not used. A model starts only while
time is left, and the neural ones stop on the deadline, so the budget can be overrun by at most one
validation window of one statistical or LightGBM fit (a statsforecast fit cannot be interrupted in-process,
and a capped child process costs about 2 s of imports per model, too much for minute budgets).

The best by ``metric`` (mean over series and windows) is refitted on all data; ``ensemble="median"`` takes the
point-wise median of the top ``top_k`` instead. Models without their own intervals get conformal ones from
their validation errors.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tightfit.budget import Budget
from tightfit.errors import ConfigError, DataError, bad_param
from tightfit.timeseries.augment import Augmenter
from tightfit.timeseries.data import SeriesSet, check_horizon, check_series
from tightfit.timeseries.metrics import mase, rmse, smape
from tightfit.timeseries.models import STACK, model_stack

__all__ = ["METRICS", "Forecaster"]

log = logging.getLogger(__name__)

METRICS = ("mase", "smape", "rmse", "mae")
SEASONAL = ("SeasonalNaive",)
SHORT_POINTS = 50
SHORT_AUGMENT = Augmenter(jitter=0.5, scaling=0.5, magnitude_warp=0.3, time_warp=0.3, window_slice=0.3)


class Forecaster:
    """Rolling-origin selection of a forecaster under a time budget.

    Parameters
    ----------
    horizon : int
        Steps to forecast.
    season_length : int, default=1
        Points per season (12 for monthly data with a yearly cycle); 1 means no seasonality.
    budget : Budget, default=None
        ``time`` bounds the whole fit (validation of every model and the final fit).
    models : "auto" or sequence of str, default="auto"
        ``"auto"``: the whole stack (``STACK``) cheapest first; else the named models in that order.
    metric : {"mase", "smape", "rmse", "mae"}, default="mase"
        M4 definitions (``timeseries.metrics``); lower is better.
    n_windows : int, default=3
        Validation cut-offs, each ``horizon`` apart; fewer when the shortest series cannot hold them (said in
        ``notes_``).
    ensemble : {None, "median"}, default=None
        ``"median"``: forecast the median of the ``top_k`` best models.
    level : sequence of int, default=(80, 95)
        Prediction interval levels in percent.
    augment : Augmenter, default=None
        Augmentation of the neural models' training windows; ``None``: on for short series only.
    chronos_path : str, default=None
        A local Chronos-Bolt checkpoint folder for the zero-shot model.
    """

    def __init__(
        self,
        horizon: int,
        season_length: int = 1,
        budget: Budget | None = None,
        models: str | Sequence[str] = "auto",
        metric: str = "mase",
        n_windows: int = 3,
        ensemble: str | None = None,
        top_k: int = 3,
        level: Sequence[int] = (80, 95),
        augment: Augmenter | None = None,
        chronos_path: str | None = None,
        random_state: int = 0,
        verbose: bool = True,
    ) -> None:
        self.horizon = check_horizon(horizon)
        if isinstance(season_length, bool) or not isinstance(season_length, int) or season_length < 1:
            raise bad_param("season_length", "Forecaster", "an int >= 1 (1: no seasonality)", season_length)
        self.season_length = season_length
        if budget is not None and not isinstance(budget, Budget):
            raise bad_param("budget", "Forecaster", "None or a Budget", type(budget).__name__)
        self.budget = budget or Budget()
        if models == "auto":
            self.models = list(STACK)
        elif isinstance(models, (list, tuple)) and models and all(m in STACK for m in models):
            self.models = list(models)
        else:
            raise bad_param("models", "Forecaster", f"'auto' or a non-empty list from {STACK}", models)
        if metric not in METRICS:
            raise bad_param("metric", "Forecaster", METRICS, metric)
        self.metric = metric
        if isinstance(n_windows, bool) or not isinstance(n_windows, int) or n_windows < 1:
            raise bad_param("n_windows", "Forecaster", "an int >= 1", n_windows)
        self.n_windows = n_windows
        if ensemble not in (None, "median"):
            raise bad_param("ensemble", "Forecaster", (None, "median"), ensemble)
        self.ensemble = ensemble
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 2:
            raise bad_param("top_k", "Forecaster", "an int >= 2 (models in the median ensemble)", top_k)
        self.top_k = top_k
        if not isinstance(level, (list, tuple)) or not all(isinstance(lv, int) and 0 < lv < 100 for lv in level):
            raise bad_param("level", "Forecaster", "a sequence of ints in (0, 100)", level)
        self.level = tuple(sorted(level))
        if augment is not None and not isinstance(augment, Augmenter):
            raise bad_param("augment", "Forecaster", "None or an Augmenter", type(augment).__name__)
        self.augment = augment
        self.chronos_path = chronos_path
        self.random_state = random_state
        self.verbose = verbose

    # -- fit -----------------------------------------------------------------------------------------------
    def fit(self, df: Any) -> Forecaster:
        """Validate every model that fits the budget, pick the best, forecast with it; returns self."""
        started = time.perf_counter()
        deadline = started + self.budget.time if self.budget.time else float("inf")
        self.series_ = series = check_series(df, self.horizon)
        self.notes_: list[str] = []
        season, windows, augment, names = self._adapt(series)
        stack = model_stack(names, augment, self.chronos_path)
        rows, self.cv_ = [], {}
        from tightfit.progress import StepProgress

        with StepProgress(len(stack), self.verbose, description="models") as progress:
            for model in stack:
                rows.append(self._validate(model, series, season, windows, deadline))
                progress.advance(model=model.name, status=rows[-1]["status"])
        board = pd.DataFrame(rows)
        ok = board[board["status"] == "ok"].sort_values(self.metric, kind="stable")
        if ok.empty:
            raise DataError(
                "no model finished validation within the budget: "
                f"{dict(zip(board['model'], board['reason'], strict=True))}"
            )
        chosen = (
            list(ok["model"][: self.top_k]) if self.ensemble == "median" and len(ok) >= 2 else [ok["model"].iloc[0]]
        )
        self.chosen_ = "Ensemble" if len(chosen) > 1 else chosen[0]
        self.members_ = chosen
        board["chosen"] = board["model"].isin(chosen)
        self.season_length_used_ = season
        by_name = {m.name: m for m in stack}
        forecasts = []
        for name in chosen:  # the final fit on all data, timed like the rest
            begun = time.perf_counter()
            forecasts.append(
                self._with_intervals(by_name[name], self._forecast(by_name[name], series.frame, season, deadline)[0])
            )
            board.loc[board["model"] == name, "final_fit_s"] = time.perf_counter() - begun
        self.forecast_ = self._combine(forecasts)
        self.leaderboard_ = board
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def _adapt(self, series: SeriesSet) -> tuple[int, int, Augmenter | None, list[str]]:
        shortest = min(series.lengths.values())
        short_id = min(series.lengths, key=series.lengths.get)
        if series.exogenous:
            self.notes_.append(
                f"columns {series.exogenous} are not used: no model of the stack takes exogenous inputs yet"
            )
        season, names, augment = self.season_length, list(self.models), self.augment
        if season > 1 and (shortest < 2 * season or shortest < SHORT_POINTS):
            self.notes_.append(
                f"series {short_id!r} has {shortest} points (< 2 seasons of {season} or < {SHORT_POINTS}): "
                "seasonal models dropped, the others fitted without seasonality"
            )
            names = [n for n in names if n not in SEASONAL]
            season = 1
        if shortest < SHORT_POINTS and augment is None:
            augment = SHORT_AUGMENT
            self.notes_.append(f"short series ({shortest} points): the neural models train on augmented windows too")
        minimum_train = max(2 * season, 10, self.horizon)
        windows = min(self.n_windows, max(0, (shortest - minimum_train) // self.horizon))
        if windows < 1:
            raise DataError(
                f"series {short_id!r} has {shortest} points: validation needs at least {minimum_train + self.horizon} "
                f"({minimum_train} to train on and a horizon of {self.horizon} to score)."
            )
        if windows < self.n_windows:
            self.notes_.append(
                f"n_windows {self.n_windows} -> {windows}: series {short_id!r} has only {shortest} points"
            )
        return season, windows, augment, names

    def _forecast(self, model, frame: pd.DataFrame, season: int, deadline: float) -> tuple[pd.DataFrame, int]:
        """One fit + forecast with what is left of the budget, and the RSS it added at its peak (sampled)."""
        from tightfit.measure import MemoryMonitor

        left = deadline - time.perf_counter()
        time_s = None if left == float("inf") else max(left, 1.0)
        with MemoryMonitor(device="cpu") as monitor:
            forecast = model.forecast(
                frame, self.horizon, self.series_.freq, season, self.level, self.random_state, time_s
            )
        return forecast, int(monitor.peak - monitor.baseline)

    def _validate(self, model, series: SeriesSet, season: int, windows: int, deadline: float) -> dict[str, Any]:
        row: dict[str, Any] = {"model": model.name, "kind": model.kind}
        why_not = model.unavailable() if hasattr(model, "unavailable") else None
        if why_not:
            return row | {"status": "skipped", "reason": why_not}
        frame = series.frame
        position = frame.groupby("unique_id").cumcount()
        length = frame["unique_id"].map(series.lengths)
        scores, errors, seconds, peaks = [], [], [], []
        for w in range(windows):
            left = deadline - time.perf_counter()
            if w == 1 and seconds[0] * (windows + 1) > left:
                return row | {"status": "skipped", "reason": (
                    f"the first validation window took {seconds[0]:.1f} s; {windows} windows and the final fit "
                    f"need ~{seconds[0] * (windows + 1):.0f} s, {max(left, 0):.0f} s left")}  # fmt: skip
            if left <= 0:
                return row | {"status": "skipped", "reason": "the time budget ran out before it started"}
            cutoff = length - (windows - w) * self.horizon
            train, test = frame[position < cutoff], frame[(position >= cutoff) & (position < cutoff + self.horizon)]
            begun = time.perf_counter()
            try:
                predicted, peak = self._forecast(model, train, season, deadline)
            except Exception as exc:  # a model that cannot fit these series: a row, not a crash
                log.info("forecast: %s failed: %s", model.name, exc)
                return row | {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"[:300]}
            seconds.append(time.perf_counter() - begun)
            peaks.append(peak)
            merged = test.merge(predicted, on=["unique_id", "ds"], how="left")
            if merged["mean"].isna().any():
                return row | {"status": "failed", "reason": "forecast dates do not line up with the series"}
            for uid, group in merged.groupby("unique_id", sort=False):
                history = train.loc[train["unique_id"] == uid, "y"].to_numpy()
                truth, guess = group["y"].to_numpy(), group["mean"].to_numpy()
                scores.append({
                    "mase": mase(truth, guess, history, season), "smape": smape(truth, guess),
                    "rmse": rmse(truth, guess), "mae": float(np.mean(np.abs(truth - guess))),
                })  # fmt: skip
                errors.append(truth - guess)
        self.cv_[model.name] = np.array(errors)  # (series x windows, horizon): signed validation errors
        means = pd.DataFrame(scores).mean()
        return row | {
            "status": "ok", "reason": "", **means.to_dict(), "fit_s": float(np.median(seconds)),
            "cv_s": float(np.sum(seconds)), "peak_memory_bytes": int(max(peaks)),
        }  # fmt: skip

    def _with_intervals(self, model, forecast: pd.DataFrame) -> pd.DataFrame:
        """Conformal intervals from the model's validation errors (per horizon step) when it has none."""
        if all(f"lo-{lv}" in forecast for lv in self.level):
            return forecast
        errors = np.abs(self.cv_[model.name])
        steps = np.tile(np.arange(self.horizon), len(forecast) // self.horizon)
        for lv in self.level:
            width = np.quantile(errors, lv / 100, axis=0, method="higher")[steps]
            forecast[f"lo-{lv}"] = forecast["mean"] - width
            forecast[f"hi-{lv}"] = forecast["mean"] + width
        return forecast

    def _combine(self, forecasts: list[pd.DataFrame]) -> pd.DataFrame:
        columns = ["mean", *[f"{side}-{lv}" for lv in self.level for side in ("lo", "hi")]]
        out = forecasts[0][["unique_id", "ds"]].copy()
        for column in columns:
            out[column] = np.median(np.stack([f[column].to_numpy() for f in forecasts]), axis=0)
        return out

    # -- results ---------------------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "forecast_"):
            raise ConfigError("this Forecaster is not fitted yet; call fit(df) first.")

    def predict(self) -> pd.DataFrame:
        """unique_id, ds, <chosen name>, and <name>-lo-80 ... <name>-hi-95."""
        self._check_fitted()
        rename = {"mean": self.chosen_} | {
            c: f"{self.chosen_}-{c}" for c in self.forecast_.columns if c[:3] in ("lo-", "hi-")
        }
        return self.forecast_.rename(columns=rename).reset_index(drop=True)

    def plot(self, path: str | Path, unique_id: str | None = None, history: int | None = None) -> Path:
        """History, forecast and intervals of one series (default: the first) as a PNG."""
        self._check_fitted()
        from tightfit.viz import plot_forecast

        uid = str(unique_id) if unique_id is not None else self.series_.ids[0]
        if uid not in self.series_.lengths:
            raise bad_param("unique_id", "Forecaster.plot", self.series_.ids[:10], unique_id)
        past = self.series_.frame[self.series_.frame["unique_id"] == uid]
        past = past.tail(history or max(4 * self.horizon, 3 * self.season_length))
        future = self.forecast_[self.forecast_["unique_id"] == uid]
        bands = [(lv, future[f"lo-{lv}"].to_numpy(), future[f"hi-{lv}"].to_numpy()) for lv in self.level]
        return plot_forecast(past["ds"], past["y"], future["ds"], future["mean"], bands, path, f"{uid}: {self.chosen_}")
