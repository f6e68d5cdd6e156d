"""TabularLeaderboard: entries side by side with measured cost, each in its own process; failures keep their
reason."""

import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split

from tightfit import Budget, ConfigError
from tightfit.tabular import TabularLeaderboard


@pytest.fixture(scope="module")
def split():
    X, y = load_wine(return_X_y=True)
    return train_test_split(X, y, test_size=0.5, stratify=y, random_state=0)


def test_entries_are_ranked_with_their_measured_cost_and_a_failure_keeps_its_reason(split):
    board = TabularLeaderboard(*split, budget=Budget(memory="3GB"))
    board.add_model("TinyTFM").add_model("RandomForest", model_params={"n_estimators": 50})
    board.add_model("LogisticRegression", name="starved LR", model_params={"max_iter": 1, "solver": "nope"})
    table = board.run(rank_by="log_loss", verbose=False)
    assert list(table["model"][:2]) == sorted(
        table["model"][:2], key=lambda m: table.set_index("model").loc[m, "log_loss"]
    )
    ok = table[table["verdict"] != "failed"]
    assert set(ok["model"]) == {"TinyTFM", "RandomForest"}
    assert (ok["roc_auc_score"] > 0.95).all() and (ok["fit_s"] > 0).all()
    assert (ok["peak_bytes"] > 50e6).all() and (ok["peak_bytes"] < 3e9).all()
    assert (ok["size_bytes"] > 0).all()
    failed = table[table["model"] == "starved LR"].iloc[0]
    assert failed["verdict"] == "failed" and "solver" in failed["reason"] and np.isnan(failed["log_loss"])


def test_duplicate_names_and_bad_options_raise_when_added(split):
    board = TabularLeaderboard(*split).add_model("LightGBM")
    with pytest.raises(ConfigError, match="already on the leaderboard"):
        board.add_model("lightgbm")
    with pytest.raises(ConfigError, match="not available for model_name='RandomForest'"):
        board.add_model("RandomForest", "peft")
