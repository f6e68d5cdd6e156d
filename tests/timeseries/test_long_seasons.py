"""Seasons longer than the state-space models hold (weekly 52, half-hourly 48): AutoETS and AutoARIMA fit the MSTL
deseasonalised series and forecast the season back, on real weekly CO2, and such a fitted model saves and loads."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from tightfit.timeseries import Forecaster

STATE_SPACE = ["AutoETS", "AutoARIMA"]


@pytest.fixture(scope="module")
def weekly_co2() -> pd.DataFrame:
    """Mauna Loa CO2, weekly (statsmodels; the few missing weeks interpolated), its last ten years."""
    co2 = sm.datasets.co2.load_pandas().data["co2"].interpolate().iloc[-520:]
    return pd.DataFrame({"unique_id": "co2", "ds": co2.index, "y": co2.to_numpy()})


def _validation_mae(fc: Forecaster) -> dict[str, float]:
    return {name: float(record.scores("mae").mean()) for name, record in fc.cv_.items()}


def test_a_weekly_season_is_carried_by_the_state_space_models(weekly_co2):
    fc = Forecaster(horizon=13, models=[*STATE_SPACE, "SeasonalNaive"], ensemble=None, n_windows=2,
                    verbose=False).fit(weekly_co2)  # fmt: skip
    flat = Forecaster(horizon=13, season_length=1, models=STATE_SPACE, ensemble=None, n_windows=2,
                      verbose=False).fit(weekly_co2)  # fmt: skip
    assert fc.season_length_used_ == 52
    seasonal, without = _validation_mae(fc), _validation_mae(flat)
    for name in STATE_SPACE:  # MAE: MASE's scale changes with the season
        assert seasonal[name] < 0.5 * without[name], (name, seasonal[name], without[name])
        assert seasonal[name] < seasonal["SeasonalNaive"]
    assert fc.chosen_ in STATE_SPACE
    forecast = fc.predict()
    assert np.all(forecast[f"{fc.chosen_}-lo-80"] < forecast[fc.chosen_])  # intervals come back with the season
    assert np.all(forecast[fc.chosen_] < forecast[f"{fc.chosen_}-hi-80"])


def test_a_deseasonalised_model_saves_and_forecasts_the_same(weekly_co2, tmp_path):
    older = weekly_co2.iloc[:-13]
    fc = Forecaster(horizon=13, models=["AutoETS"], n_windows=1, ensemble=None, verbose=False).fit(older)
    fc.save(tmp_path / "model")
    loaded = Forecaster.load(tmp_path / "model")
    pd.testing.assert_frame_equal(loaded.predict(), fc.predict(), check_exact=False, rtol=1e-9)
    newer = loaded.predict(weekly_co2)  # the fitted parameters on newer history: the season follows it
    assert newer["ds"].iloc[0] == weekly_co2["ds"].iloc[-1] + pd.Timedelta(weeks=1)
    assert abs(newer["AutoETS"].iloc[0] - weekly_co2["y"].iloc[-1]) < 2.0  # ppm: next week is near this one
