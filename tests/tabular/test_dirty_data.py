"""Messy tables as users have them: each row of issue #14's table reproduced. Missing targets are dropped with a
count, a target that cannot be learnt is a DataError naming it before any candidate runs, useless columns are
dropped with a note, and budgets the machine cannot express are refused where they are typed."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine

from tightfit import AutoFit, Budget, ConfigError, DataError, Hardware
from tightfit.cli import main
from tightfit.tabular import Candidate, TabularPipeline

LR = [Candidate("LogisticRegression", "LogisticRegression")]


@pytest.fixture(scope="module")
def wine_frame():
    data = load_wine(as_frame=True)
    frame = data.frame.drop(columns="target")
    frame["y"] = np.array(["barolo", "grignolino", "barbera"])[data.target]
    return frame


def test_a_text_target_with_empty_cells_drops_those_rows_with_a_count(tmp_path, wine_frame, capsys):
    frame = wine_frame.copy()
    frame.loc[[3, 50, 100], "y"] = np.nan  # empty cells in the CSV
    frame.to_csv(tmp_path / "f.csv", index=False)
    out = tmp_path / "run"
    code = main(["fit", str(tmp_path / "f.csv"), "--target", "y", "--models", "logistic regression", "--out", str(out),
                 "--quiet"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "note: dropped 3 of 178 rows whose target 'y' is missing" in printed
    assert "dropped 3 of 178 rows" in (out / "report.html").read_text()


def test_a_semicolon_csv_is_read_as_columns(tmp_path, wine_frame, capsys):
    wine_frame.to_csv(tmp_path / "f.csv", sep=";", index=False)
    code = main(["fit", str(tmp_path / "f.csv"), "--target", "y", "--models", "logistic regression",
                 "--out", str(tmp_path / "run")])  # fmt: skip
    assert code == 0 and "columns separated by ';'" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ([None] * 178, "missing in all 178 rows"),
        (["barolo"] * 178, "single class \\('barolo'\\)"),
        (["a", 1.5] * 89, "mixes text and other values"),
    ],
)
def test_a_target_that_cannot_be_learnt_is_named_before_any_candidate_runs(wine_frame, target, message):
    X = wine_frame.drop(columns="y")
    auto = AutoFit(Budget(time="20s"), candidates=LR, verbose=False)
    with pytest.raises(DataError, match=message):
        auto.fit(X, pd.Series(target, name="label"))
    assert not hasattr(auto, "search_")  # nothing ran: the data was the cause, not the time


def test_cv_names_the_smallest_class(wine_frame):
    y = wine_frame["y"].copy()
    y.iloc[:2] = "rare"
    with pytest.raises(DataError, match="class 'rare' of the target has 2 row"):
        AutoFit(candidates=LR, verbose=False).fit(wine_frame.drop(columns="y"), y)


def test_rare_classes_can_be_left_out_with_a_note(wine_frame):
    """medicaldata's smartpill `Race` has a class of one row: refused by default (above); rare_classes="drop"
    leaves such rows out, says so, and the model never predicts them. Two classes must remain."""
    X, y = wine_frame.drop(columns="y"), wine_frame["y"].copy()
    y.iloc[:2] = "rare"
    refused = AutoFit(candidates=LR, verbose=False)
    with pytest.raises(DataError, match="rare_classes='drop' \\(CLI --rare-classes drop\\) leaves such rows out"):
        refused.fit(X, y)
    auto = AutoFit(candidates=LR, verbose=False, rare_classes="drop").fit(X, y)
    assert "left out 2 row(s) of 1 class(es) with fewer rows than the cv=3 folds ('rare')" in " ".join(auto.notes_)
    assert "rare" not in set(auto.predict(X)) and set(auto.predict(X.iloc[2:])) == set(y.iloc[2:])
    assert auto.leaderboard_["roc_auc_score"].max() > 0.95
    lonely = pd.Series(["big"] * 176 + ["a", "b"], index=X.index)  # one class would be left: still refused
    with pytest.raises(DataError, match="class 'a' of the target has 1 row"):
        AutoFit(candidates=LR, verbose=False, rare_classes="drop").fit(X, lonely)
    with pytest.raises(ConfigError, match="rare_classes"):
        AutoFit(rare_classes="merge")


def test_useless_columns_are_dropped_with_a_note_and_predict_still_works(wine_frame):
    X = wine_frame.drop(columns="y").copy()
    X["patient_id"] = [f"P{i:04d}" for i in range(len(X))]
    X["row"] = np.arange(len(X))
    X["empty"] = np.nan
    X["constant"] = 7.0
    X.loc[5, "alcohol"] = np.inf
    pipe = TabularPipeline("LogisticRegression").fit(X, wine_frame["y"])
    notes = " | ".join(pipe.notes_)
    assert "missing in every row: 'empty'" in notes
    assert "identifier-like column(s) (distinct in every row): 'patient_id', 'row'" in notes
    assert "constant column(s): 'constant'" in notes
    assert pipe.processor_.columns_ == [c for c in X.columns if c not in ("patient_id", "row", "empty")]
    test = X.head(5).copy()
    test.loc[test.index[0], "magnesium"] = -np.inf
    assert np.isfinite(pipe.predict_proba(test)).all()
    assert pipe.evaluate(X, wine_frame["y"])["accuracy"] > 0.9


def test_duplicate_column_names_are_refused_by_name(wine_frame):
    X = wine_frame.drop(columns="y")
    X = pd.concat([X, X[["alcohol"]]], axis=1)
    with pytest.raises(DataError, match=r"duplicate column names \['alcohol'\]"):
        TabularPipeline("LogisticRegression").fit(X, wine_frame["y"])


def test_budgets_beyond_what_the_machine_can_express():
    with pytest.raises(ConfigError, match=r"'memory' parameter of Budget.*below 2\*\*63 bytes"):
        Budget(memory="1e400GB")
    with pytest.raises(ConfigError, match="'time' parameter of Budget"):
        Budget(time="1e400s")
    hw = Hardware.probe()
    far = Budget(memory=hw.ram_total_bytes * 4, device="cpu")
    assert far.beyond(hw) and "cannot bind" in far.beyond(hw)[0]
    assert Budget(memory="100MB", device="cpu").beyond(hw) == []
