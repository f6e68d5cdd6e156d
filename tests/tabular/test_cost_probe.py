"""The cost probe orders candidates by their measured cost on this table; small tables keep the given order."""

import numpy as np
from sklearn.datasets import load_digits, load_wine

from tightfit.tabular import cost_probe
from tightfit.tabular.autofit import Candidate

ZERO_SHOT = Candidate("TinyTFM zero-shot", "TinyTFM")
LOGISTIC = Candidate("LogisticRegression", "LogisticRegression")
FINE_TUNE = Candidate("TinyTFM LoRA", "TinyTFM", tuning_strategy="peft")


def test_a_large_table_puts_the_measured_cheapest_first_and_fine_tunes_last(monkeypatch):
    monkeypatch.setattr(cost_probe, "PROBE_ROWS", 200)  # digits' 1,797 rows count as large: > 2 x 200
    X, y = load_digits(return_X_y=True)
    order, predicted = cost_probe.order_by_probe([FINE_TUNE, ZERO_SHOT, LOGISTIC], X, y, "classification", 3, 0)
    assert [c.label for c in order] == ["LogisticRegression", "TinyTFM zero-shot", "TinyTFM LoRA"]
    assert set(predicted) == {"LogisticRegression", "TinyTFM zero-shot"}  # a fine-tune spends the share it gets
    assert predicted["TinyTFM zero-shot"] > 3 * predicted["LogisticRegression"] > 0


def test_a_small_table_keeps_the_given_order_without_probing():
    X, y = load_wine(return_X_y=True)
    order, predicted = cost_probe.order_by_probe([ZERO_SHOT, LOGISTIC], X, y, "classification", 3, 0)
    assert order == [ZERO_SHOT, LOGISTIC] and predicted == {}


def test_a_candidate_whose_probe_fails_goes_last_among_the_probed(monkeypatch):
    monkeypatch.setattr(cost_probe, "PROBE_ROWS", 200)
    X, y = load_digits(return_X_y=True)
    broken = Candidate("Broken", "LogisticRegression", model_params={"C": -1.0})  # scikit-learn refuses C < 0
    order, predicted = cost_probe.order_by_probe([broken, LOGISTIC], X, y, "classification", 3, 0)
    assert [c.label for c in order] == ["LogisticRegression", "Broken"] and np.isinf(predicted["Broken"])
