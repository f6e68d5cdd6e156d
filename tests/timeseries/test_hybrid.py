"""ETS+NHITS: AutoETS per series carries level, trend and season; N-HiTS learns its residuals; the forecast is
the sum, validated like any model of the stack, and saved and loaded without refitting."""

import numpy as np
import pandas as pd
import pytest

from tightfit.errors import DataError
from tightfit.timeseries import Forecaster
from tightfit.timeseries.data import check_series
from tightfit.timeseries.models import HybridForecaster, StatsModel


@pytest.fixture(scope="module")
def co2_df():
    import statsmodels.api as sm

    co2 = sm.datasets.co2.load_pandas().data["co2"].resample("MS").mean().interpolate().tail(240)
    return pd.DataFrame({"unique_id": "co2", "ds": co2.index, "y": co2.to_numpy()})


def test_the_hybrid_forecast_is_ets_plus_the_networks_residual_forecast(co2_df, tmp_path):
    freq = check_series(co2_df, 12).freq
    fitted = HybridForecaster().fit(co2_df, 12, freq, 12, (80,), 0, None)
    residuals = fitted.stats.residuals(co2_df)["y"].to_numpy()
    # ETS explains the trend and the season: what it leaves is small beside the series' own variation
    assert np.std(residuals) < 0.05 * np.std(co2_df["y"]) and np.abs(residuals).max() > 0
    forecast = fitted.predict(co2_df, freq, (80,))
    ets = StatsModel("AutoETS").fit(co2_df, 12, freq, 12, (80,), 0, None).predict(co2_df, freq, (80,))
    correction = fitted.neural.predict(fitted.stats.residuals(co2_df), freq, (80,))["mean"].to_numpy()
    np.testing.assert_allclose(forecast["mean"], ets["mean"] + correction, rtol=1e-10)
    np.testing.assert_allclose(forecast["hi-80"] - forecast["lo-80"], ets["hi-80"] - ets["lo-80"], rtol=1e-10)
    assert np.abs(correction).max() > 0  # the network moves the forecast

    fc = Forecaster(horizon=12, season_length=12, models=["SeasonalNaive", "AutoETS", "ETS+NHITS"], n_windows=2,
                    verbose=False).fit(co2_df)  # fmt: skip
    board = fc.leaderboard_.set_index("model")
    assert board.loc["ETS+NHITS", "verdict"] in ("fits", "chosen") and board.loc["ETS+NHITS", "windows"] == 2
    assert board.loc["ETS+NHITS", "mase"] < board.loc["SeasonalNaive", "mase"]
    single = Forecaster(horizon=12, season_length=12, models=["ETS+NHITS"], n_windows=1, verbose=False).fit(co2_df)
    single.save(tmp_path / "model")
    newer = co2_df.iloc[:-6]
    pd.testing.assert_frame_equal(Forecaster.load(tmp_path / "model").predict(newer), single.predict(newer))


def test_a_series_too_short_for_the_residual_network_is_named():
    tiny = pd.DataFrame({"unique_id": "tiny", "ds": pd.date_range("2020-01-01", periods=14, freq="MS"),
                         "y": np.linspace(1.0, 2.0, 14)})  # fmt: skip
    with pytest.raises(DataError, match="no series holds a window of 16 points"):
        HybridForecaster().fit(tiny, 12, "MS", 1, (80,), 0, None)
