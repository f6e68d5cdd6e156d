"""`tightfit predict` and `predict_file`: the pipeline's own predictions, in chunks, with the schema checked."""

import numpy as np
import pandas as pd
import pytest

import tightfit
from tightfit.cli import main
from tightfit.errors import DataError
from tightfit.serve import predict_file


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_a_file_predicted_in_chunks_equals_predicting_the_frame(fitted, mixed, tmp_path, suffix):
    _, _, X_test, _ = mixed
    pipe = fitted["TinyTFM"]
    data = tmp_path / f"rows{suffix}"
    X_test.to_parquet(data) if suffix == ".parquet" else X_test.to_csv(data, index=False)
    summary = predict_file(pipe, data, tmp_path / "out.csv", proba=True, chunk_rows=37, verbose=False)
    got = pd.read_csv(tmp_path / "out.csv")
    assert summary.rows == len(X_test) == len(got)
    np.testing.assert_array_equal(got["prediction"], pipe.predict(X_test))
    np.testing.assert_allclose(got[["proba_benign", "proba_malignant"]], pipe.predict_proba(X_test), atol=1e-12)


def test_text_that_looks_numeric_in_one_chunk_stays_a_category(mixed, tmp_path):
    from tightfit.tabular import TabularPipeline

    X, y, X_test, _ = mixed
    X, X_test = X.assign(code=np.where(X["screened"], "7", "x9")), X_test.assign(code="7")
    pipe = TabularPipeline(model_name="LightGBM").fit(X, y)
    X_test.to_csv(tmp_path / "rows.csv", index=False)  # every 'code' in this file is the digit 7
    predict_file(pipe, tmp_path / "rows.csv", tmp_path / "out.csv", chunk_rows=50, verbose=False)
    np.testing.assert_array_equal(pd.read_csv(tmp_path / "out.csv")["prediction"], pipe.predict(X_test))


def test_schema_drift_names_the_column_the_value_and_the_row(fitted, mixed, tmp_path):
    _, _, X_test, _ = mixed
    pipe = fitted["LightGBM"]
    X_test.drop(columns=["site", "mean texture"]).to_csv(tmp_path / "missing.csv", index=False)
    with pytest.raises(DataError, match=r"lacks the column.*'mean texture', 'site'"):
        predict_file(pipe, tmp_path / "missing.csv", tmp_path / "out.csv", chunk_rows=50, verbose=False)
    drifted = X_test.astype({"mean radius": object})
    drifted.loc[123, "mean radius"] = "n/a?"
    drifted.to_csv(tmp_path / "drifted.csv", index=False)
    with pytest.raises(DataError, match=r"'mean radius' was numeric.*row 123 holds 'n/a\?'"):
        predict_file(pipe, tmp_path / "drifted.csv", tmp_path / "out.csv", chunk_rows=50, verbose=False)
    assert not (tmp_path / "out.csv").exists()  # a failed run leaves no half-written predictions
    X_test.assign(note="extra", seen="not a date").to_csv(tmp_path / "date.csv", index=False)
    with pytest.raises(DataError, match=r"'seen' was datetime.*row 0 holds 'not a date'"):
        pipe.predict(pd.read_csv(tmp_path / "date.csv"))


def test_the_cli_predicts_a_run_folder_and_reports_extra_columns(fitted, mixed, tmp_path, capsys):
    _, _, X_test, _ = mixed
    fitted["RandomForest"].save(tmp_path / "run" / "model")
    X_test.assign(comment="ignored").to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "pred.csv"
    assert main(["predict", str(tmp_path / "run"), str(tmp_path / "new.csv"), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "ignored 1 column(s) the model does not read: 'comment'" in printed and f"{len(X_test)} rows" in printed
    np.testing.assert_array_equal(pd.read_csv(out)["prediction"], fitted["RandomForest"].predict(X_test))
    assert main(["predict", str(tmp_path / "run"), str(tmp_path / "absent.csv"), "--quiet"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["predict", str(tmp_path), str(tmp_path / "new.csv"), "--quiet"]) == 2
    assert "no saved model" in capsys.readouterr().err


def test_proba_on_a_regression_model_is_refused(mixed, tmp_path):
    from tightfit.errors import ConfigError
    from tightfit.tabular import TabularPipeline

    X, _, X_test, _ = mixed
    reg = tightfit.load(TabularPipeline(model_name="Ridge", task_type="regression")
                        .fit(X, X["mean area"]).save(tmp_path / "m"))  # fmt: skip
    X_test.to_csv(tmp_path / "rows.csv", index=False)
    with pytest.raises(ConfigError, match="proba=True"):
        predict_file(reg, tmp_path / "rows.csv", tmp_path / "out.csv", proba=True, verbose=False)
