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


def test_under_a_time_budget_the_probe_spends_at_most_its_share(monkeypatch):
    """modeldata's leaf_id_flavia (1,907 rows, 32 classes) spent 56 s of a 1-minute budget probing. Each
    candidate's 60-row warm-up now says whether its probe (500 rows here: 200 / 60 x the warm-up) fits in what
    is left of PROBE_SHARE x the time; those that do not are ordered by their warm-up, after the probed ones."""
    import tightfit.measure

    monkeypatch.setattr(cost_probe, "PROBE_ROWS", 200)
    X, y = load_digits(return_X_y=True)
    scripted = {("TinyTFM", 60): 0.4, ("LogisticRegression", 60): 0.01, ("LogisticRegression", 200): 0.02,
                ("RandomForest", 60): 0.2, ("LightGBM", 60): 0.05, ("LightGBM", 200): 0.1}  # fmt: skip
    ran = []

    def scripted_stopwatch(fn, pipe, X_rows, y_rows, task):
        ran.append((pipe.model_name, len(y_rows)))
        return None, scripted[(pipe.model_name, len(y_rows))]

    monkeypatch.setattr(tightfit.measure, "stopwatch", scripted_stopwatch)
    forest, boosting = Candidate("RandomForest", "RandomForest"), Candidate("LightGBM", "LightGBM")
    order, predicted = cost_probe.order_by_probe([ZERO_SHOT, LOGISTIC, forest, boosting, FINE_TUNE], X, y,
                                                 "classification", 3, 0, seconds=10.0)  # fmt: skip
    # allowance 1.0 s: TinyTFM's warm-up (0.4) says its probe (1.33) would overrun; logistic regression is probed
    # (0.43 spent); Random Forest's warm-up (0.2) says 0.67 more would overrun; LightGBM is probed (0.78 spent)
    assert ran == [("TinyTFM", 60), ("LogisticRegression", 60), ("LogisticRegression", 200), ("RandomForest", 60),
                   ("LightGBM", 60), ("LightGBM", 200)]  # fmt: skip
    assert [c.label for c in order] == ["LogisticRegression", "LightGBM", "RandomForest", "TinyTFM zero-shot",
                                        "TinyTFM LoRA"]  # fmt: skip
    assert set(predicted) == {"LogisticRegression", "LightGBM"}
    ran.clear()
    cost_probe.order_by_probe([ZERO_SHOT, LOGISTIC], X, y, "classification", 3, 0, seconds=3.0)
    assert ran == [("TinyTFM", 60)]  # its warm-up spent the 0.3 s share: nothing else is tried
