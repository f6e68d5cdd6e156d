"""Forecaster on real statsmodels series: rolling-origin selection beats seasonal naive where there is
structure, intervals nest around the forecast, the time budget skips models with the measured reason, short
series adapt, and season_length=1 works."""

import re
import time

import numpy as np
import pandas as pd
import pytest

from tightfit import Budget
from tightfit.timeseries import Forecaster

FAST = ["SeasonalNaive", "Naive", "AutoETS", "LightGBM", "DLinear"]


def test_selection_on_elnino_beats_seasonal_naive_and_forecasts_with_intervals(elnino_df, tmp_path):
    fc = Forecaster(horizon=12, season_length=12, models=FAST, n_windows=2, verbose=False).fit(elnino_df)
    board = fc.leaderboard_.set_index("model")
    assert board["verdict"].isin(["fits", "chosen"]).all() and (board["verdict"] == "chosen").sum() == 1
    assert {"mase", "smape", "rmse", "fit_s", "cv_s", "peak_bytes", "final_fit_s"} <= set(board.columns)
    assert board.loc[fc.chosen_, "mase"] == board["mase"].min()
    assert board.loc[fc.chosen_, "mase"] < board.loc["SeasonalNaive", "mase"]  # a real seasonal signal to learn
    out = fc.predict()
    name = fc.chosen_
    assert list(out.columns) == [
        "unique_id",
        "ds",
        name,
        f"{name}-lo-80",
        f"{name}-hi-80",
        f"{name}-lo-95",
        f"{name}-hi-95",
    ]
    assert len(out) == 12 and out["ds"].iloc[0] == elnino_df["ds"].iloc[-1] + pd.offsets.MonthBegin(1)
    assert (out[f"{name}-lo-95"] <= out[f"{name}-lo-80"]).all() and (out[f"{name}-lo-80"] <= out[name]).all()
    assert (out[name] <= out[f"{name}-hi-80"]).all() and (out[f"{name}-hi-80"] <= out[f"{name}-hi-95"]).all()
    assert fc.plot(tmp_path / "elnino.png").stat().st_size > 10_000


@pytest.fixture
def warm_children(nile_df):
    """One small fit first, so the guard's warm server (torch and statsforecast imported once per process) is
    up before a test times a budget: its start-up is the process's, not the budget's (~0.3 s when warm)."""
    Forecaster(horizon=5, models=["Naive"], verbose=False).fit(nile_df)


def test_a_tight_time_budget_stops_slow_models_and_holds_the_deadline(elnino_df, warm_children):
    began = time.perf_counter()
    fc = Forecaster(horizon=12, season_length=12, budget=Budget(time="3s"), verbose=False,
                    models=["SeasonalNaive", "Naive", "AutoARIMA", "NHITS"]).fit(elnino_df)  # fmt: skip
    elapsed = time.perf_counter() - began
    board = fc.leaderboard_.set_index("model")
    assert board.loc["SeasonalNaive", "verdict"] in ("fits", "chosen")
    # AutoARIMA's seasonal search takes ~6 s a window here: stopped at the deadline, or skipped on its first window
    arima = board.loc["AutoARIMA"]
    assert (arima["verdict"] == "over_limit" and "did not finish in the" in arima["reason"]) or (
        arima["verdict"] == "skipped" and "first validation window took" in arima["reason"])  # fmt: skip
    skipped = board[board["verdict"] == "skipped"]
    assert len(skipped) >= 1
    assert all(("first validation window took" in r) or ("ran out" in r) for r in skipped["reason"])
    assert fc.chosen_ == board.index[board["verdict"] == "chosen"][0] and len(fc.predict()) == 12
    assert fc.search_.binding.binding == "time"
    assert elapsed < 1.02 * 3 + 2  # issue #20's promise: the whole fit, final fit included


def test_the_final_fit_reserve_holds_the_best_members_time():
    from tightfit.measure import Deadline
    from tightfit.search import Entry, Measured
    from tightfit.timeseries.forecaster import _FinalFitReserve

    reserve = _FinalFitReserve(Deadline(60), members=2, overhead=0.25)
    assert reserve.held() == 0 and 59 < reserve.left() <= 60
    for name, quality, estimate in [("a", 1.0, 5.0), ("b", 0.5, 10.0), ("c", 2.0, 20.0)]:
        entry = Entry(name, None, measured=Measured(quality=quality), details={"final_fit_estimate_s": estimate})
        reserve.hold(entry)
    assert reserve.held() == pytest.approx(10.25 + 5.25)  # the two best (lowest) qualities, not the slowest
    assert 60 - 15.5 - 1 < reserve.left() <= 60 - 15.5
    assert _FinalFitReserve(Deadline(None), 1, 0.25).left() is None


def test_no_seasonality_and_integer_dates(nile_df):
    fc = Forecaster(horizon=5, season_length=1, models=["Naive", "AutoETS", "AutoTheta"], verbose=False).fit(nile_df)
    out = fc.predict()
    assert list(out["ds"]) == [1971, 1972, 1973, 1974, 1975]
    assert np.isfinite(out[fc.chosen_]).all() and fc.notes_ == []


def test_short_series_drop_seasonal_models_and_augment(elnino_df):
    short = elnino_df.iloc[-28:]  # 2 seasons of 12 and a horizon of 6 need 30 points to validate a seasonal model
    fc = Forecaster(horizon=6, season_length=12, models=["SeasonalNaive", "Naive", "DLinear"], verbose=False)
    fc.fit(short)
    assert "SeasonalNaive" not in set(fc.leaderboard_["model"])
    assert any("seasonal models dropped" in n for n in fc.notes_) and any("augmented" in n for n in fc.notes_)
    assert fc.season_length_used_ == 1


def test_a_short_series_keeps_its_season_and_validates_on_overlapping_windows(elnino_df):
    short = elnino_df.iloc[-40:]  # 24 points to train on (2 seasons): room for 2 disjoint windows of 6, not 3
    fc = Forecaster(horizon=6, season_length=12, models=["SeasonalNaive", "Naive"], verbose=False).fit(short)
    board = fc.leaderboard_.set_index("model")
    assert fc.season_length_used_ == 12 and board.loc["SeasonalNaive", "verdict"] in ("fits", "chosen")
    assert not any("seasonal models dropped" in n for n in fc.notes_)
    # the oldest cut-off can sit 10 points before the newest (40 - 24 - 6): three windows, 5 points apart
    assert board.loc["SeasonalNaive", "windows"] == 3 and any("start 5 apart (overlapping)" in n for n in fc.notes_)
    y = short["y"].to_numpy()
    truths = fc.cv_["SeasonalNaive"].truths  # newest window first
    for row, back in zip(truths, [6, 11, 16], strict=True):
        assert np.array_equal(row, y[len(y) - back : len(y) - back + 6])
    assert np.array_equal(truths[0][:1], truths[1][-1:])  # the windows share points
    disjoint = Forecaster(horizon=6, season_length=12, models=["Naive"], step_size=6, verbose=False).fit(short)
    assert disjoint.leaderboard_.set_index("model").loc["Naive", "windows"] == 2  # asked for: a horizon apart
    notes = " | ".join(disjoint.notes_)
    assert "overlapping" not in notes and "n_windows 3 -> 2" in notes


def test_several_series_and_a_median_ensemble(macro_df):
    fc = Forecaster(horizon=4, season_length=4, models=["Naive", "AutoETS", "AutoTheta", "LightGBM"],
                    ensemble="median", top_k=3, verbose=False).fit(macro_df)  # fmt: skip
    out = fc.predict()
    assert fc.chosen_ == "Ensemble" and len(fc.members_) == 3 and fc.leaderboard_["member"].sum() == 3
    assert set(out["unique_id"]) == {"realgdp", "realcons"} and len(out) == 8
    last = macro_df.groupby("unique_id")["y"].last()
    for uid, group in out.groupby("unique_id"):  # a forecast of a trending series starts near its last value
        assert abs(group["Ensemble"].iloc[0] / last[uid] - 1) < 0.05


def test_chronos_without_its_checkpoint_is_listed_not_fatal(nile_df):
    fc = Forecaster(horizon=5, models=["Naive", "ChronosBolt"], verbose=False).fit(nile_df)
    row = fc.leaderboard_.set_index("model").loc["ChronosBolt"]
    assert row["verdict"] == "skipped" and ("chronos" in row["reason"].lower())


def test_extra_columns_are_named_as_unused(nile_df):
    fc = Forecaster(horizon=5, models=["Naive"], verbose=False).fit(nile_df.assign(rain=1.0))
    assert fc.notes_ == ["columns ['rain'] are not used: no model of the stack takes exogenous inputs yet"]


def test_a_polars_frame_gives_the_same_forecasts_as_pandas(macro_df):
    pl = pytest.importorskip("polars")
    options = {"horizon": 4, "season_length": 4, "models": ["SeasonalNaive", "AutoETS"], "verbose": False}
    from_pandas = Forecaster(**options).fit(macro_df)
    from_polars = Forecaster(**options).fit(pl.from_pandas(macro_df))
    assert from_polars.chosen_ == from_pandas.chosen_
    pd.testing.assert_frame_equal(from_polars.predict(), from_pandas.predict())
    assert from_polars.predict()["ds"].iloc[0] == pd.Timestamp("2009-10-01")  # the quarter after the last


def test_a_budget_no_model_can_validate_in_is_a_budget_error_not_a_data_error(nile_df, warm_children):
    from tightfit import BudgetExceeded

    with pytest.raises(BudgetExceeded, match="no model finished validation") as caught:
        Forecaster(horizon=5, models=["Naive", "AutoETS"], budget=Budget(time="0.05s"), verbose=False).fit(nile_df)
    assert caught.value.kind == "time"


class _SlowNaive:
    """A model whose every fit takes 0.4 s and forecasts the last value: the validation's timing is known."""

    name, kind = "SlowNaive", "statistical"

    def fit(self, frame, h, freq, season_length, level, seed, time_s):
        time.sleep(0.4)
        return self

    def predict(self, history, freq, level):
        from tightfit.timeseries.models import _future

        self.h = 5
        last = history.groupby("unique_id", sort=False)["y"].last()
        future = _future(history, 5, freq)
        return future.assign(mean=future["unique_id"].map(last).to_numpy())


@pytest.mark.parametrize(("time_left", "expected"), [(1.0, 1), (1.5, 2), (4.0, 3)])
def test_a_slow_model_validates_on_the_most_recent_windows_its_time_allows(nile_df, time_left, expected):
    from tightfit.timeseries.data import check_series

    fc = Forecaster(horizon=5, n_windows=3, verbose=False)
    series = check_series(nile_df, 5)
    fc.freq_ = series.freq
    outcome = fc._validate(series, 1, [5, 10, 15], _SlowNaive(), time_left)
    assert outcome.measured.extra["windows"] == expected
    record = outcome.artefact  # one row of errors (and of truths, and MASE's scale) per window used
    assert record.errors.shape == record.truths.shape == (expected, 5) and record.scales.shape == (expected,)
    said = outcome.details.get("fewer_windows", "")  # with the measured first window, when windows were cut
    pattern = rf"validated on its {expected} most recent of 3 windows: the first took 4\d\dms" if expected < 3 else ""
    assert re.fullmatch(pattern + (r", and the time left held no more beside its final fit" if pattern else ""), said)


def test_a_model_whose_final_fit_cannot_fit_is_skipped_with_the_arithmetic(nile_df):
    from tightfit.search import SkipEntry
    from tightfit.timeseries.data import check_series

    fc = Forecaster(horizon=5, n_windows=3, verbose=False)
    series = check_series(nile_df, 5)
    fc.freq_ = series.freq
    with pytest.raises(SkipEntry, match=r"the first validation window took 4\d\dms; its final fit needs about as much"):
        fc._validate(series, 1, [5, 10, 15], _SlowNaive(), 0.6)


def test_a_best_model_whose_final_fit_and_save_cannot_finish_is_passed_over(nile_df):
    from tightfit.measure import Deadline
    from tightfit.search import Entry, Measured, Verdict
    from tightfit.timeseries.data import check_series
    from tightfit.timeseries.models import model_stack

    fc = Forecaster(horizon=5, verbose=False)
    fc.series_ = check_series(nile_df, 5)
    fc.freq_, fc.notes_ = fc.series_.freq, []
    slow = Entry("Slow", None, measured=Measured(quality=0.5, fit_s=20.0),
                 details={"final_fit_estimate_s": 40.0, "save_estimate_s": 20.0})  # fmt: skip
    naive = Entry("Naive", model_stack(["Naive"], None, None)[0], measured=Measured(quality=0.9, fit_s=0.01),
                  details={"final_fit_estimate_s": 0.01, "save_estimate_s": 0.0})  # fmt: skip
    slow.verdict, naive.verdict = Verdict.chosen("best"), Verdict.fits()
    members, fits = fc._final_fits([slow, naive], 1, Deadline(5), "inline")
    assert members == [naive] and len(fits[0][1]) == 5  # never started the slow one: the next best forecasts
    assert slow.verdict.status == "over_limit" and slow.verdict.limit == "time"
    assert re.fullmatch(r"validated, but its final fit and save need ~1min, (5|4\.\d+)s left", slow.verdict.reason)
    assert naive.verdict.status == "chosen" and "(Slow's could not)" in naive.verdict.reason
