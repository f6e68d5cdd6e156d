"""compress a fitted table model: the original beside its distilled students, measured end to end in one run;
a latency limit the original breaks chooses a student that keeps the held-out ROC AUC; the CLI on a run folder
writes a model that `tightfit predict` uses."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

import tightfit
from tightfit import Budget
from tightfit.cli import main
from tightfit.errors import ConfigError
from tightfit.measure import latency
from tightfit.tabular import TabularPipeline, compress_pipeline


@pytest.fixture(scope="module")
def tinytfm():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, _, y_train, _ = train_test_split(X, y, random_state=0, stratify=y)
    return TabularPipeline().fit(X_train, y_train), X_train, y_train


def test_every_variant_is_measured_and_a_latency_limit_chooses_a_student(tinytfm):
    pipe, X, y = tinytfm
    # TinyTFM reads its whole context for one row (12-30 ms on the machines this ran on); the students answer 4-5x
    # faster. The limit is half the original's one-row time measured here, so it sits between them on any machine
    original_s = latency(pipe.predict_proba, X.iloc[:1], warmup=3, min_repeats=20, min_time_s=0.5).p50_s
    limit = original_s / 2
    report = compress_pipeline(pipe, X, y, budget=Budget(latency=limit), max_quality_drop=0.01, verbose=False)
    board = report.table.set_index("variant")
    assert list(board.index) == ["original", "distil-LightGBM", "distil-MLP"]
    original = board.loc["original"]
    assert original["verdict"] == "over_limit" and original["limit"] == "latency"
    assert original["latency_p95_s"] > limit and original["reason"].startswith("latency p95")
    student = board.loc[report.best_name]
    assert report.best_name.startswith("distil-") and student["verdict"] == "chosen"
    assert student["latency_p50_s"] * 3 < original["latency_p50_s"]
    assert student["quality_drop"] <= 0.01 and student["roc_auc_score"] >= 0.97  # held-out, measured 0.99
    assert student["size_bytes"] < original["size_bytes"]  # no context rows to carry
    assert {"p50_at_1000_s", "p95_at_1000_s", "fit_s"} <= set(board.columns)
    assert report.best.distilled_from_ == "TinyTFM" and report.metric == "roc_auc_score"


def test_without_labels_quality_is_agreement_and_a_strict_drop_keeps_the_original(tinytfm):
    pipe, X, _ = tinytfm
    report = compress_pipeline(pipe, X, students=("LightGBM",), max_quality_drop=0.0, verbose=False)
    board = report.table.set_index("variant")
    assert report.metric == "agreement" and board.loc["original", "agreement"] == 1.0
    student = board.loc["distil-LightGBM"]
    assert student["agreement"] > 0.9
    assert (student["verdict"] == "over_limit") == (student["agreement"] < 1.0)  # any disagreement is a drop over 0
    assert report.best_name in ("original", "distil-LightGBM")


def test_bad_arguments_are_named_at_the_call(tinytfm):
    pipe, X, y = tinytfm
    with pytest.raises(ConfigError, match="max_quality_drop"):
        compress_pipeline(pipe, X, y, max_quality_drop=-0.1)
    with pytest.raises(ConfigError, match="students"):
        compress_pipeline(pipe, X, y, students=("XGBoost",))
    regression = TabularPipeline(model_name="LightGBM", task_type="regression").fit(X.iloc[:100], X.iloc[:100, 0])
    with pytest.raises(ConfigError, match="needs a fitted classification TabularPipeline"):
        compress_pipeline(regression, X)


def test_compress_a_run_folder_on_the_command_line(tinytfm, tmp_path, capsys):
    pipe, X, y = tinytfm
    run = tmp_path / "run"
    pipe.save(run / "model")
    data = X.assign(diagnosis=y.to_numpy())
    data.to_csv(tmp_path / "train.csv", index=False)
    out = tmp_path / "small"
    code = main(["compress", str(run), "--data", str(tmp_path / "train.csv"), "--target", "diagnosis",
                 "--latency", "50ms", "--students", "LightGBM", "--out", str(out), "--quiet"])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0 and "chosen: distil-LightGBM" in printed
    small = tightfit.load(out)
    assert small.distilled_from_ == "TinyTFM"
    assert (out / "report.html").is_file() and len(pd.read_csv(out / "leaderboard.csv")) == 2
    X.iloc[:50].to_csv(tmp_path / "rows.csv", index=False)
    assert main(["predict", str(out), str(tmp_path / "rows.csv"), "--out", str(tmp_path / "p.csv"), "--quiet"]) == 0
    predicted = pd.read_csv(tmp_path / "p.csv")
    np.testing.assert_array_equal(predicted.iloc[:, -1].to_numpy(), small.predict(X.iloc[:50]))
    assert main(["compress", str(run), "--out", str(tmp_path / "x")]) == 2
    assert "needs --data" in capsys.readouterr().err
