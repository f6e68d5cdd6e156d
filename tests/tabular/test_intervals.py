"""Intervals for any regressor AutoFit chose: its prediction plus or minus the conformal quantile of its
cross-validated errors; coverage measured on held-out rows, kept through save/load and the CLI."""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

from tightfit.cli import main
from tightfit.errors import ConfigError
from tightfit.tabular import AutoFit, Candidate, TabularPipeline
from tightfit.tabular.intervals import KEPT_RESIDUALS, half_width, residual_grid


def test_the_half_width_is_the_conformal_rank_of_the_errors():
    grid = residual_grid(np.array([-3.0, 1.0, 2.0, -4.0, 0.5, 5.0, -6.0, 7.0, 8.0]))  # |e| sorted: 0.5 ... 8
    assert grid.tolist() == [0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    assert half_width(grid, 0.8) == 7.0  # ceil(10 * 0.8) = 8th smallest
    assert half_width(grid, 0.5) == 4.0 and math.isinf(half_width(grid, 0.95))  # 10th of 9: too few errors
    many = residual_grid(np.random.default_rng(0).normal(size=50_000))
    assert len(many) == KEPT_RESIDUALS and half_width(many, 0.8) == pytest.approx(1.2816, abs=0.03)  # |N(0,1)|


@pytest.mark.parametrize("model", ["Ridge", "LightGBM"])
def test_an_autofit_regressor_gives_intervals_that_cover_held_out_rows(model, tmp_path):
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    best = AutoFit(candidates=[Candidate(model, model)], verbose=False).fit(X_train, y_train).best_
    assert len(best.interval_residuals_) == len(y_train)  # every row's out-of-fold error
    lower, upper = best.predict_interval(X_test, 0.8).T
    covered = ((y_test >= lower) & (y_test <= upper)).mean()
    assert 0.72 <= covered <= 0.9, covered  # measured: Ridge 0.83, LightGBM 0.82 of 133 held-out rows
    assert np.allclose((upper - lower) / 2, half_width(best.interval_residuals_, 0.8))
    assert (best.predict_interval(X_test, 0.5)[:, 1] < upper).all()  # narrower for less coverage
    run = best.save(tmp_path / "run")
    X_test.to_csv(tmp_path / "rows.csv", index=False)
    assert main(["predict", str(run), str(tmp_path / "rows.csv"), "--out", str(tmp_path / "out.csv"),
                 "--interval", "0.8", "--quiet"]) == 0  # fmt: skip
    np.testing.assert_allclose(pd.read_csv(tmp_path / "out.csv")[["lower", "upper"]], np.c_[lower, upper])
    refit = best.fit(X_train, y_train)  # fitted again outside AutoFit: the errors no longer describe it
    with pytest.raises(ConfigError, match="fitted directly"):
        refit.predict_interval(X_test)
    with pytest.raises(ConfigError, match="coverage"):
        TabularPipeline(model_name=model, task_type="regression").predict_interval(X_test, coverage=80)
