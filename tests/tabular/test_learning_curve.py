"""`LearningCurve`: a power law fitted to measured scores predicts later ones within its interval, and says when a
target is out of reach."""

import numpy as np
import pytest

from tightfit.errors import DataError
from tightfit.tabular.learning_curve import LearningCurve


def test_a_noisy_power_law_is_recovered_with_an_interval_around_the_truth():
    rng = np.random.default_rng(0)
    labels = np.arange(10, 70, 10)
    truth = lambda n: 0.95 - 0.5 * n**-0.5  # noqa: E731
    curve = LearningCurve().fit(labels, truth(labels) + rng.normal(0, 0.003, len(labels)))
    at_100 = curve.predict(100)
    assert abs(at_100.value - truth(100)) < 0.01 and at_100.low <= truth(100) <= at_100.high
    need = curve.labels_for(0.92)  # truth: (0.5 / 0.03) ** 2 = 278 labels
    assert 0.7 * 278 < need.value < 1.3 * 278 and need.low <= 278 <= need.high
    assert curve.labels_for(0.99).value == float("inf")  # above the fitted ceiling: never


def test_the_first_four_points_of_a_real_active_learning_curve_predict_the_sixth():
    labels, auc = [16, 24, 32, 40, 48, 56], [0.9758, 0.9931, 0.9963, 0.9966, 0.9979, 0.9970]  # test_active's margin
    forecast = LearningCurve().fit(labels[:4], auc[:4]).predict(56)
    assert abs(forecast.value - auc[-1]) < 0.02 and forecast.low <= forecast.value <= forecast.high


def test_too_few_points_are_refused():
    with pytest.raises(DataError, match="3 or more distinct"):
        LearningCurve().fit([10, 10, 20], [0.8, 0.81, 0.85])
