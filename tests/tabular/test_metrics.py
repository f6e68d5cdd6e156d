"""Held-out metrics agree with scikit-learn's, and calibration error is computed as defined."""

import numpy as np
import pytest
from sklearn import metrics

from tightfit.tabular.metrics import calibration, classification_metrics, regression_metrics


def test_binary_metrics_match_scikit_learn_with_string_labels():
    rng = np.random.default_rng(0)
    classes = np.array(["no", "yes"])
    y = rng.choice(classes, 200)
    p_yes = np.clip((y == "yes") * 0.6 + rng.random(200) * 0.4, 0, 1)
    proba = np.column_stack([1 - p_yes, p_yes])
    out = classification_metrics(y, proba, classes)
    y_pred = classes[proba.argmax(1)]
    assert out["roc_auc_score"] == pytest.approx(metrics.roc_auc_score(y == "yes", p_yes))
    assert out["f1_score"] == pytest.approx(metrics.f1_score(y, y_pred, pos_label="yes"))
    assert out["log_loss"] == pytest.approx(metrics.log_loss(y, proba, labels=classes))
    assert out["brier_score"] == pytest.approx(metrics.brier_score_loss(y == "yes", p_yes))
    assert out["mcc"] == pytest.approx(metrics.matthews_corrcoef(y, y_pred))


def test_multiclass_auc_skips_classes_absent_from_the_test_rows():
    classes = np.array([0, 1, 2])
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.5, 0.4]])
    out = classification_metrics(y, proba, classes)
    assert out["roc_auc_score"] == 1.0 and out["accuracy"] == 1.0


def test_ece_is_zero_when_confidence_equals_accuracy_and_large_when_overconfident():
    classes = np.array([0, 1])
    y = np.array([1] * 8 + [0] * 2)
    honest = np.tile([0.2, 0.8], (10, 1))  # 80% confident, 80% right
    assert calibration(y, honest, classes)["ece"] == pytest.approx(0.0)
    overconfident = np.tile([0.01, 0.99], (10, 1))
    result = calibration(y, overconfident, classes, n_bins=5)
    assert result["ece"] == pytest.approx(0.19) and result["mce"] == pytest.approx(0.19)
    assert result["bins"] == [{"low": 0.8, "high": 1.0, "count": 10, "confidence": 0.99, "accuracy": 0.8}]


def test_regression_metrics():
    out = regression_metrics([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 6.0])
    assert out["rmse"] == pytest.approx(1.0) and out["mae"] == pytest.approx(0.5)
    assert out["mape"] == pytest.approx(0.125) and out["r2"] == pytest.approx(1 - 4 / 5)
