"""A fitted Forecaster used after its fit: save/load in a folder without pickle, forecasts from newer history
without a refit (statsforecast's forward, LightGBM's lags, a network's lookback), damaged files as named errors,
the per-series latency budget, and `tightfit forecast --from RUN_DIR`."""

import re

import numpy as np
import pandas as pd
import pytest

import tightfit
from tightfit import Budget, BudgetExceeded
from tightfit.cli import main
from tightfit.errors import DataError
from tightfit.timeseries import Forecaster

MEMBERS = ["AutoETS", "AutoTheta", "LightGBM", "DLinear"]
BOUNDS = ["lo-80", "hi-80", "lo-95", "hi-95"]


@pytest.fixture(scope="module")
def fitted_ensemble():
    """A median ensemble over four kinds of fitted model (statistical, boosting, network), fitted on macro series
    without their last 8 quarters, so that the full series are 'newer history'."""
    import statsmodels.api as sm

    data = sm.datasets.macrodata.load_pandas().data
    ds = pd.date_range("1959-01-01", periods=len(data), freq="QS")
    full = pd.concat([pd.DataFrame({"unique_id": c, "ds": ds, "y": data[c].to_numpy(dtype=float)})
                      for c in ("realgdp", "realcons")])  # fmt: skip
    older = full.groupby("unique_id").head(len(full) // 2 - 8)
    fc = Forecaster(horizon=4, season_length=4, models=MEMBERS, ensemble="median", top_k=4, n_windows=2,
                    verbose=False).fit(older)  # fmt: skip
    return fc, older, full


def test_a_saved_forecaster_loads_without_pickle_and_forecasts_the_same(fitted_ensemble, tmp_path):
    fc, older, _ = fitted_ensemble
    assert sorted(fc.members_) == sorted(MEMBERS)
    fc.save(tmp_path / "model")
    suffixes = sorted(p.suffix for p in (tmp_path / "model").iterdir())
    assert suffixes == [".csv", ".json", ".safetensors", ".skops", ".skops", ".txt"]  # no pickle anywhere
    loaded = tightfit.load(tmp_path)  # a run folder holding model/
    assert isinstance(loaded, Forecaster) and loaded.members_ == fc.members_ and loaded.chosen_ == "Ensemble"
    pd.testing.assert_frame_equal(loaded.predict(), fc.predict(), check_exact=False, rtol=1e-12)
    # from the same history, the loaded members give the fit's own forecast (nothing refitted, nothing lost)
    again = loaded.predict(older)
    np.testing.assert_allclose(again.iloc[:, 2:].to_numpy(), fc.predict().iloc[:, 2:].to_numpy(), rtol=1e-9)
    assert loaded.predict_notes_ == []
    assert list(loaded.leaderboard_["model"]) == list(fc.leaderboard_["model"])


def test_newer_history_is_forecast_from_its_end_with_the_fitted_parameters(fitted_ensemble):
    fc, _, full = fitted_ensemble
    out = fc.predict(full)
    last = full.groupby("unique_id")["ds"].max()
    for uid, group in out.groupby("unique_id"):
        assert group["ds"].iloc[0] == last[uid] + pd.offsets.QuarterBegin(startingMonth=1)
        assert abs(group["Ensemble"].iloc[0] / full[full["unique_id"] == uid]["y"].iloc[-1] - 1) < 0.05
    # the statistical member applied its fitted parameters to the new data (statsforecast's forward): no refit
    ets = fc.fitted_["AutoETS"]
    for uid in ("realgdp", "realcons"):
        y = full.loc[full["unique_id"] == uid, "y"].to_numpy()
        own = ets.predict(full[full["unique_id"] == uid], fc.freq_, fc.level)["mean"].to_numpy()
        np.testing.assert_allclose(own, ets.per_series[uid].forward(y=y, h=4)["mean"])
        refit = ets.blank("AutoETS", True, 4).fit(y).predict(h=4)["mean"]
        assert np.abs(own - refit).max() > 1e-6  # a refit on the newer data gives (slightly) other numbers
    # intervals nest around the median forecast
    name = "Ensemble"
    assert (out[f"{name}-lo-95"] <= out[f"{name}-lo-80"]).all() and (out[f"{name}-lo-80"] <= out[name]).all()
    assert (out[name] <= out[f"{name}-hi-80"]).all() and (out[f"{name}-hi-80"] <= out[f"{name}-hi-95"]).all()


def test_a_series_the_fit_never_saw_is_forecast_with_a_note(fitted_ensemble):
    fc, older, _ = fitted_ensemble
    new = older[older["unique_id"] == "realcons"].assign(unique_id="newcomer").tail(10)
    out = fc.predict(pd.concat([older, new]))
    assert set(out["unique_id"]) == {"realgdp", "realcons", "newcomer"} and out["Ensemble"].notna().all()
    notes = " | ".join(fc.predict_notes_)
    assert "AutoETS: 1 series the fit never saw (first 'newcomer') were fitted on their own history" in notes
    assert "DLinear: 1 series shorter than its lookback" in notes  # 10 points < the network's 16


def test_newer_history_at_another_frequency_is_a_named_error(fitted_ensemble):
    fc, _, full = fitted_ensemble
    monthly = full.assign(ds=pd.date_range("1959-01-01", periods=len(full) // 2, freq="MS").tolist() * 2)
    with pytest.raises(DataError, match=r"frequency 'MS'; this Forecaster was fitted on 'QS-\w+' series"):
        fc.predict(monthly)


def test_damaged_or_untrusted_files_are_named_errors(fitted_ensemble, tmp_path):
    import json

    import skops.io as sio

    fc, _, _ = fitted_ensemble
    folder = fc.save(tmp_path / "m")
    booster = next(folder.glob("*.txt"))
    booster.write_text(booster.read_text()[:200])
    with pytest.raises(DataError, match=f"{booster.name} is not a readable LightGBM model"):
        Forecaster.load(folder)
    folder = fc.save(tmp_path / "m")
    member = next(folder.glob("*AutoETS.skops"))
    member.write_bytes(member.read_bytes()[:500])
    with pytest.raises(DataError, match=f"{member.name} is not a readable skops file"):
        Forecaster.load(folder)
    sio.dump({"realgdp": Budget(time=1.0)}, member)  # a type of no statsforecast model
    with pytest.raises(DataError, match=r"holds types tightfit does not trust: \['tightfit.budget.Budget'\]"):
        Forecaster.load(folder)
    folder = fc.save(tmp_path / "m")
    header = json.loads((folder / "forecaster.json").read_text())
    (folder / "forecaster.json").write_text(json.dumps(header | {"format_version": 99}))
    with pytest.raises(DataError, match="has format version 99; this tightfit reads version 2"):
        Forecaster.load(folder)


class SlowToForecast:
    """Fits at once and forecasts the last value, but every forecast takes 80 ms: over a 60 ms limit by design
    (a sleep is a lower bound on any machine)."""

    name, kind = "SlowToForecast", "statistical"

    def fit(self, frame, h, freq, season_length, level, seed, time_s):
        return SlowFitted(h)


class SlowFitted:
    def __init__(self, h):
        self.h = h

    def predict(self, history, freq, level):
        import time

        from tightfit.timeseries.models import _future

        time.sleep(0.08)
        last = history.groupby("unique_id", sort=False)["y"].last()
        future = _future(history, self.h, freq)
        return future.assign(mean=future["unique_id"].map(last).to_numpy())


def test_a_latency_budget_drops_the_model_whose_one_series_forecast_is_slow(nile_df, monkeypatch):
    import tightfit.timeseries.forecaster as forecaster
    from tightfit import guard
    from tightfit.timeseries.models import model_stack

    monkeypatch.setattr(guard, "forks_children", lambda: False)  # models run in this process: no child to unpickle
    monkeypatch.setattr(forecaster, "model_stack", lambda names, *args: [*model_stack(["Naive"], None, None),
                                                                         SlowToForecast()])  # fmt: skip
    fc = Forecaster(horizon=5, models=["Naive"], n_windows=1, budget=Budget(latency="60ms"), verbose=False)
    board = fc.fit(nile_df).leaderboard_.set_index("model")
    assert board.loc["Naive", "verdict"] == "chosen" and board.loc["Naive", "latency_p95_s"] < 0.06
    slow = board.loc["SlowToForecast"]
    assert slow["verdict"] == "over_limit" and slow["limit"] == "latency" and slow["latency_p50_s"] >= 0.08
    assert re.fullmatch(r"latency p95 \d+(\.\d+)?ms > 60ms", slow["reason"])
    monkeypatch.undo()
    with pytest.raises(BudgetExceeded, match="latency budget exceeded") as caught:
        Forecaster(horizon=24, models=["Naive"], n_windows=1, budget=Budget(latency="1us"), verbose=False).fit(nile_df)
    assert caught.value.kind == "latency" and caught.value.observed > 1e-6


def test_forecast_from_a_saved_run_on_the_command_line(macro_df, tmp_path, capsys):
    older = macro_df.groupby("unique_id").head(150)
    older.to_csv(tmp_path / "older.csv", index=False)
    macro_df.to_csv(tmp_path / "newer.csv", index=False)
    run = tmp_path / "run"
    assert main(["forecast", str(tmp_path / "older.csv"), "--horizon", "4", "--season", "4", "--windows", "2",
                 "--models", "Naive,AutoETS,LightGBM", "--out", str(run), "--quiet"]) == 0  # fmt: skip
    assert (run / "model" / "forecaster.json").is_file()
    assert main(["forecast", "--from", str(run), str(tmp_path / "newer.csv"), "--out", str(tmp_path / "next")]) == 0
    printed = capsys.readouterr().out
    assert "(fitted, not refitted)" in printed
    written = pd.read_csv(tmp_path / "next" / "forecasts.csv", parse_dates=["ds"])
    expected = tightfit.load(run).predict(macro_df)
    pd.testing.assert_frame_equal(written, expected, check_exact=False, rtol=1e-9, check_dtype=False)
    assert written["ds"].min() == pd.Timestamp("2009-10-01")  # after the newer data's end, not the fit's
    assert main(["forecast", "--from", str(run), str(tmp_path / "newer.csv"), "--horizon", "8"]) == 2
    assert "forecasts 4 steps; fit again for another horizon" in capsys.readouterr().err
    assert main(["predict", str(run), str(tmp_path / "newer.csv")]) == 2
    assert "holds a Forecaster, not a table model" in capsys.readouterr().err
