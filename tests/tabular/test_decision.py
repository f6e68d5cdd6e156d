"""Decision rules on a real imbalanced table: argmax predicts the majority class for almost every row, a threshold
tuned out of fold for balanced accuracy finds the minority class; the rules and their bad values are checked."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from tightfit import AutoFit, ConfigError
from tightfit.tabular import Candidate, TabularPipeline
from tightfit.tabular.decision import decide, tune_decision


@pytest.fixture(scope="module")
def imbalanced():
    """breast_cancer with only 5% of the malignant rows kept and a weak view (3 noisy features)."""
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(0)
    keep = (y == 1) | (rng.random(len(y)) < 0.06)
    X, y = X[keep][:, [0, 1, 4]], np.where(y[keep] == 0, "malignant", "benign")
    X = X + rng.normal(scale=X.std(0) * 1.5, size=X.shape)
    return train_test_split(X, y, test_size=0.4, stratify=y, random_state=0)


def test_a_tuned_threshold_finds_the_minority_class(imbalanced):
    X_train, X_test, y_train, y_test = imbalanced
    argmax = TabularPipeline("LogisticRegression").fit(X_train, y_train)
    plain = argmax.evaluate(X_test, y_test)
    auto = AutoFit(candidates=[Candidate("LogisticRegression", "LogisticRegression")], verbose=False)
    auto.fit(X_train, y_train)
    entry = auto.search_.chosen
    assert isinstance(entry.details["decision"], float) and entry.details["decision_metric"] == "balanced_accuracy"
    tuned = auto.best_.evaluate(X_test, y_test)
    assert tuned["balanced_accuracy"] > plain["balanced_accuracy"] + 0.05, (plain, tuned)
    assert tuned["roc_auc_score"] == pytest.approx(plain["roc_auc_score"])  # same model, another rule
    counts = np.array(entry.details["confusion"]["counts"])
    assert counts.sum() == len(y_train) and counts.shape == (2, 2)
    matrix = auto.best_.confusion_matrix(X_test, y_test)
    assert matrix.to_numpy().sum() == len(y_test) and matrix.loc["malignant", "malignant"] > 0


def test_rules_and_bad_values():
    classes = np.array(["a", "b", "c"])
    proba = np.array([[0.6, 0.3, 0.1], [0.5, 0.1, 0.4]])
    priors = np.array([0.8, 0.1, 0.1])
    assert decide(proba, classes, "argmax", priors).tolist() == ["a", "a"]
    assert decide(proba, classes, "balanced", priors).tolist() == ["b", "c"]
    rule, _ = tune_decision(np.array(["b", "c"]), proba, classes, priors, "accuracy")
    assert rule == "balanced"
    with pytest.raises(ConfigError, match="'decision' parameter of TabularPipeline"):
        TabularPipeline("LogisticRegression", decision=1.5)
    with pytest.raises(ConfigError, match="needs a binary"):
        TabularPipeline("LogisticRegression", decision=0.3).fit(np.eye(6), ["a", "b", "c"] * 2)
    with pytest.raises(ConfigError, match="'decision_metric' parameter of AutoFit"):
        AutoFit(decision_metric="auc")


@pytest.mark.parametrize("metric", ["accuracy", "balanced_accuracy", "f1_score", "mcc"])
def test_threshold_scores_from_one_sort_equal_scikit_learns(metric):
    from tightfit.tabular.decision import _binary_scores, _score

    rng = np.random.default_rng(0)
    classes = np.array(["no", "yes"])
    y = np.where(rng.random(300) < 0.15, "yes", "no")  # imbalanced, with tied probabilities
    positive = np.round(np.clip(rng.normal(0.3 + 0.3 * (y == "yes"), 0.2), 0, 1), 2)
    thresholds = np.r_[0.0, np.unique(positive), 0.5, 1.0, 1.01]
    fast = _binary_scores(metric, y, positive, classes, thresholds)
    slow = [_score(metric, y, np.where(positive >= t, "yes", "no"), classes) for t in thresholds]
    np.testing.assert_allclose(fast, slow, atol=1e-12)
