"""Intervals calibrated on the validation windows: the finite-sample conformal rank, the reach of a truth in
units of a model's own half-width, and the Forecaster scaling its models' own intervals by it."""

import math

import numpy as np
import pandas as pd
import pytest

from tightfit.timeseries.intervals import conformal_quantile, conformal_widths, reach, reach_scale


def test_the_conformal_quantile_takes_the_finite_sample_rank():
    values = np.arange(1.0, 10.0)  # 9 values: rank ceil(10 * 0.8) = 8
    assert conformal_quantile(values, 0.8) == 8.0
    assert np.quantile(values, 0.8) == pytest.approx(7.4)  # the plain quantile sits lower
    assert conformal_quantile(values, 0.95) == 9.0  # past n: the largest
    columns = np.stack([values, 10 * values], axis=1)
    np.testing.assert_array_equal(conformal_quantile(columns, 0.8, axis=0), [8.0, 80.0])


def test_conformal_widths_are_per_step_and_grow_with_the_level():
    errors = np.array([[1.0, -2.0], [-3.0, 4.0], [0.5, -1.0], [2.0, 8.0]])  # 4 rows: ranks ceil(5 * .5) = 3, 4
    widths = conformal_widths(errors, (50, 80))
    assert widths == {"50": [2.0, 4.0], "80": [3.0, 8.0]}


def test_reach_is_the_multiple_of_the_half_width_on_the_truths_side():
    mean, lo, hi = np.zeros(4), np.array([-1.0, -2.0, -1.0, 0.0]), np.array([2.0, 1.0, 1.0, 0.0])
    truth = np.array([3.0, -1.0, 0.5, 1.0])
    out = reach(truth, mean, lo, hi)
    np.testing.assert_allclose(out[:3], [1.5, 0.5, 0.5])  # above: 3 / 2; below: 1 / 2; inside: 0.5 / 1
    assert np.isnan(out[3])  # a zero half-width carries no scale


def test_the_scale_is_the_conformal_quantile_of_the_reaches_and_never_narrows():
    reaches = np.array([0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 2.0, np.nan])  # 9 known: rank 8 -> 1.6
    assert reach_scale(reaches, 80) == pytest.approx(1.6)
    assert reach_scale(reaches / 4, 80) == 1.0  # the windows say 0.4x: the model's own width is kept
    assert reach_scale(np.array([np.nan, np.nan]), 80) == 1.0


def test_the_forecaster_widens_a_models_own_intervals_by_what_its_windows_missed(tmp_path):
    """US CPI's last 60 quarters without the held-out 8 (2007-2009): AutoETS's own 80% intervals missed on the
    validation windows, so the Forecaster scales them by the conformal quantile of the reaches; on the held-out
    quarters the widened intervals cover 4 of 8 where statsforecast's own cover 2."""
    import statsmodels.api as sm
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    import tightfit
    from tightfit.timeseries import Forecaster

    data = sm.datasets.macrodata.load_pandas().data.iloc[-60:]
    frame = pd.DataFrame({"unique_id": "cpi", "ds": pd.date_range("1994-10-01", periods=60, freq="QS"),
                          "y": data["cpi"].to_numpy(dtype=float)})  # fmt: skip
    train, truth = frame.iloc[:-8], frame["y"].to_numpy()[-8:]
    fc = Forecaster(8, 4, models=["AutoETS"], level=(80, 95), verbose=False).fit(train)
    reaches = fc.cv_["AutoETS"].reaches
    assert reaches["80"].shape == (3, 8)  # 3 windows x 8 steps
    scale = fc.interval_scales_["AutoETS"]["80"]
    assert scale == pytest.approx(np.sort(reaches["80"].ravel())[math.ceil(25 * 0.8) - 1]) and scale > 1.2
    own = StatsForecast([AutoETS(season_length=4)], freq="QS").fit(train).predict(h=8, level=[80])
    out = fc.predict()
    mean = out["AutoETS"].to_numpy()
    np.testing.assert_allclose(mean, own["AutoETS"].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(out["AutoETS-hi-80"] - mean, scale * (own["AutoETS-hi-80"] - mean), rtol=1e-9)
    np.testing.assert_allclose(mean - out["AutoETS-lo-80"], scale * (mean - own["AutoETS-lo-80"]), rtol=1e-9)
    assert (out["AutoETS-lo-95"] <= out["AutoETS-lo-80"]).all() and (out["AutoETS-hi-80"] <= out["AutoETS-hi-95"]).all()

    def covered(lo, hi) -> int:
        return int(np.sum((truth >= np.asarray(lo)) & (truth <= np.asarray(hi))))

    assert covered(own["AutoETS-lo-80"], own["AutoETS-hi-80"]) == 2
    assert covered(out["AutoETS-lo-80"], out["AutoETS-hi-80"]) == 4
    fc.save(tmp_path / "model")  # the scales are saved with the forecaster
    pd.testing.assert_frame_equal(tightfit.load(tmp_path).predict(train), out, check_exact=False, rtol=1e-9)
