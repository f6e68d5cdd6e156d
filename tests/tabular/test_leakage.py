"""Target leakage: a column that alone gives the target away is named (rank correlation, perfect class order,
values that each hold one class), and the bundled real tables raise no alarm."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine

from tightfit.tabular import AutoFit, Candidate
from tightfit.tabular.leakage import leaking_columns


def test_a_transform_of_a_numeric_target_is_named():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    leaked = X.assign(log_target=np.log(y), noisy=y + np.random.default_rng(0).normal(0, 0.3 * y.std(), len(y)))
    found = leaking_columns(leaked, y, "regression")
    assert list(found) == ["log_target"] and found["log_target"] == "rank correlation +1.000"  # noisy: not exact


def test_columns_that_give_classes_away_are_named():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    rng = np.random.default_rng(0)
    status = pd.Series(np.where(y == 1, "discharged", "in treatment"), index=X.index)  # recorded after diagnosis
    days = pd.Series(np.where(y == 1, rng.uniform(0, 10, len(y)), rng.uniform(11, 60, len(y))), index=X.index)
    leaked = X.assign(status=status, days_in_care=days)
    found = leaking_columns(leaked, y, "classification")
    assert found == {"status": "each of its 2 values occurs with one class only",
                     "days_in_care": "orders the two classes perfectly"}  # fmt: skip
    three = load_wine(as_frame=True)
    cellar = pd.Series(np.array(["north", "south", "east"])[three.target], index=three.data.index)
    assert list(leaking_columns(three.data.assign(cellar=cellar), three.target, "classification")) == ["cellar"]


def test_infinite_values_are_ranked_not_refused():
    """inf is the largest value, as a rank sees it: a column with one is still checked, and never crashes the check
    (the fuzz test found a table of zeros and one inf that raised sklearn's ValueError)."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    ordered = pd.Series(np.where(y == 1, 1.0, 5.0), index=X.index)
    ordered.iloc[np.flatnonzero(y == 0)[0]] = np.inf
    lone = pd.Series(0.0, index=X.index)
    lone.iloc[0] = np.inf
    found = leaking_columns(pd.DataFrame({"ordered": ordered, "lone": lone}), y, "classification")
    assert found == {"ordered": "orders the two classes perfectly"}
    rising = pd.Series(np.arange(40, dtype=float))
    assert leaking_columns(pd.DataFrame({"x": rising.where(rising < 39, np.inf)}), rising, "regression") == {
        "x": "rank correlation +1.000"
    }


@pytest.mark.parametrize("loader", [load_breast_cancer, load_wine, load_digits, load_diabetes])
def test_real_tables_raise_no_alarm(loader):
    X, y = loader(return_X_y=True, as_frame=True)
    assert leaking_columns(X, y, "regression" if loader is load_diabetes else "classification") == {}


def test_autofit_notes_the_leak_and_fits_anyway():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    auto = AutoFit(candidates=[Candidate("Ridge", "Ridge")], verbose=False).fit(X.assign(log_target=np.log(y)), y)
    (note,) = [n for n in auto.notes_ if n.startswith("possible target leakage")]
    assert "'log_target' (rank correlation +1.000)" in note
    assert auto.best_.predict(X.assign(log_target=np.log(y)).head(3)).shape == (3,)
