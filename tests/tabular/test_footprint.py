"""Prediction memory planned before it runs (TinyTFM): the fake-tensor estimate against the real predict's
tracked tensors, chunked against unchunked predictions, and the plan a memory budget makes."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from tightfit.budget import Budget
from tightfit.errors import BudgetExceeded, ConfigError
from tightfit.measure.tracker import track_peak
from tightfit.tabular import TabularPipeline, TinyTFMClassifier
from tightfit.tabular.footprint import PredictSettings, numpy_bytes, plan_prediction, predict_peak


def _many_classes():
    """Digits with two extra classes (12 > TinyTFM's 10 outputs): the one-vs-rest path."""
    X, y = load_digits(return_X_y=True)
    y = np.where((y == 9) & (np.arange(len(y)) % 3 == 0), 10, y)
    return X, np.where((y == 8) & (np.arange(len(y)) % 3 == 0), 11, y)


@pytest.mark.parametrize(
    "settings, table",
    [
        (PredictSettings(500, 64, 3, True), "digits"),
        (PredictSettings(300, 32, 2, False), "digits"),
        (PredictSettings(24, 16, 1, True), "twelve classes"),
    ],
)
def test_the_estimate_is_the_real_predicts_tensor_peak(settings, table):
    X, y = {"digits": lambda: load_digits(return_X_y=True), "twelve classes": _many_classes}[table]()
    clf = TinyTFMClassifier(**settings.as_params()).fit(X[: settings.context_rows], y[: settings.context_rows])
    inputs = min(X.shape[1], clf.max_features)  # a member of a wider table reads max_features inputs
    # the context holds every labelled row: members differing only in input order are held once
    estimated = predict_peak(clf.model_, settings, inputs, len(np.unique(y)), n_context=len(clf.y_))
    queries = X[-2 * settings.query_block :].astype(np.float32)
    measured = track_peak(clf.predict_proba, queries).peak
    assert 0.99 * measured <= estimated + numpy_bytes(settings.query_block, inputs)
    assert estimated <= 1.01 * measured


def test_the_estimate_grows_with_each_knob_the_planner_turns():
    model = TinyTFMClassifier().fit(*load_digits(return_X_y=True)).model_
    base = PredictSettings(800, 256, 4, True)
    peak = predict_peak(model, base, 64, 10)
    for smaller in (PredictSettings(800, 16, 4, True), PredictSettings(800, 256, 4, False),
                    PredictSettings(800, 256, 1, True), PredictSettings(200, 256, 4, True)):  # fmt: skip
        assert predict_peak(model, smaller, 64, 10) < peak


def test_chunked_and_unchunked_predictions_are_identical():
    X, y = load_digits(return_X_y=True)
    queries = X[600:624]  # uncached, each block of 7 rows runs the 120-row context again

    clf = TinyTFMClassifier(n_estimators=2, batch_size=10_000, context_cache=True).fit(X[:120], y[:120])
    reference = clf.predict_proba(queries)
    assert reference.std(axis=0).mean() > 0.02  # predictions that vary by row, not a constant that always agrees
    for block, cache in [(7, True), (7, False), (10_000, False)]:  # set after fit: the members are built again
        clf.set_params(batch_size=block, context_cache=cache)
        np.testing.assert_allclose(clf.predict_proba(queries), reference, rtol=0, atol=1e-6)


def test_the_plan_gives_up_speed_before_quality_and_keeps_fixed_keys():
    model = TinyTFMClassifier().fit(*load_digits(return_X_y=True)).model_
    wanted = PredictSettings(1000, 512, 4, True)
    full = plan_prediction(model, 1797, 64, 10, None, wanted)
    assert full.settings == wanted and not full.steps
    no_block = predict_peak(model, PredictSettings(1000, 16, 4, False), 64, 10) + numpy_bytes(16, 64)
    plan = plan_prediction(model, 1797, 64, 10, no_block, wanted)
    assert plan.settings.context_rows == 1000 and plan.settings.n_estimators == 4  # quality kept
    assert plan.peak <= no_block and plan.steps
    kept = plan_prediction(model, 1797, 64, 10, no_block, wanted, fixed=frozenset({"n_estimators", "max_context"}))
    assert kept.settings.n_estimators == 4 and kept.settings.context_rows == 1000
    tight = plan_prediction(model, 1797, 64, 10, no_block // 3, wanted, fixed=frozenset({"n_estimators"}))
    assert tight.settings.n_estimators == 4 and tight.settings.context_rows < 1000 and tight.peak <= no_block // 3
    hopeless = plan_prediction(model, 1797, 64, 10, 10**5, wanted, fixed=frozenset({"n_estimators", "max_context"}))
    assert hopeless.settings is None and hopeless.peak > 10**5 and "smallest found" in hopeless.steps[0]


def test_a_pipeline_budget_plans_prediction_and_its_real_peak_stays_under_it():
    import psutil

    X, y = load_digits(return_X_y=True)
    held = psutil.Process().memory_info().rss
    budget = Budget(memory=int((held + 100e6 + 1.7 * 150e6) / 0.9))  # 150 MB of tensors, after the CPU reserves
    # classes coded directly: a forward pass per member, not per class (one-vs-rest's peaks: the estimate test above)
    params = {"n_estimators": 4, "multiclass": "direct"}
    pipe = TabularPipeline(model_params=params, budget=budget).fit(X[:1000], y[:1000])
    plan = pipe.prediction_plan_
    assert plan.settings.n_estimators == 4 and plan.steps and "prediction planned" in pipe.notes_[-1]
    assert pipe.model_.get_params()["max_context"] == plan.settings.context_rows
    measured = track_peak(pipe.model_.predict_proba, pipe.processor_.transform(X[1000:1100]))
    assert measured.peak <= plan.limit
    assert (pipe.classes_[measured.result.argmax(axis=1)] == y[1000:1100]).mean() > 0.6
    with pytest.raises(BudgetExceeded, match="predicting needs"):
        TabularPipeline(model_params={"max_context": 1000, "n_estimators": 4, "batch_size": 512},
                        budget=Budget(memory=held + 2_000_000)).fit(X[:1000], y[:1000])  # fmt: skip


def test_a_budget_below_the_weights_and_one_row_is_refused_at_construction():
    with pytest.raises(ConfigError, match=r"memory=1MB is below the smallest that could fit.*1\.\d+MB"):
        TabularPipeline(budget=Budget(memory="1MB"))
    assert TabularPipeline(budget=Budget(memory="4MB")).budget.memory == 4_000_000
