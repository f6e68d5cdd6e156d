"""Saved pipelines load back exactly, without running code: pickles need trust=True, damage is a DataError."""

import pickle

import numpy as np
import pytest

import tightfit
from tightfit.errors import ConfigError, DataError
from tightfit.tabular import TabularPipeline


@pytest.mark.parametrize("name", ["TinyTFM", "LightGBM", "RandomForest"])
def test_a_saved_pipeline_predicts_exactly_as_the_fitted_one(fitted, mixed, tmp_path, name):
    _, _, X_test, _ = mixed
    pipe = fitted[name]
    folder = pipe.save(tmp_path / "model")
    back = tightfit.load(folder)
    np.testing.assert_array_equal(back.predict_proba(X_test), pipe.predict_proba(X_test))
    assert list(back.classes_) == ["benign", "malignant"] and back.model_name == name
    suffixes = {p.suffix for p in folder.iterdir()}
    assert ".pkl" not in suffixes and ".json" in suffixes  # nothing pickled for these models


def test_regression_logistic_and_a_decision_threshold_survive_the_round_trip(mixed, tmp_path):
    X, y, X_test, _ = mixed
    reg = TabularPipeline(model_name="Ridge", task_type="regression").fit(X, X["mean area"] / 100)
    np.testing.assert_array_equal(TabularPipeline.load(reg.save(tmp_path / "r")).predict(X_test), reg.predict(X_test))
    strict = TabularPipeline(model_name="LogisticRegression", decision=0.9).fit(X, y)
    back = TabularPipeline.load(strict.save(tmp_path / "c"))
    assert back.decision == 0.9
    np.testing.assert_array_equal(back.predict(X_test), strict.predict(X_test))
    assert (back.predict(X_test) == "malignant").mean() < (
        TabularPipeline(model_name="LogisticRegression").fit(X, y).predict(X_test) == "malignant"
    ).mean()


def test_saving_again_replaces_the_folder_whole(fitted, tmp_path):
    folder = fitted["LightGBM"].save(tmp_path / "model")
    (folder / "stale.txt").write_text("left from before")
    fitted["RandomForest"].save(folder)
    assert not (folder / "stale.txt").exists() and tightfit.load(folder).model_name == "RandomForest"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary folder left behind


def _legacy_file(pipe, path):
    payload = {"format_version": 1, "tightfit_version": "0.1.0", "pipeline": pipe}
    path.write_bytes(pickle.dumps(payload))
    return path


def test_an_old_pickle_file_is_refused_without_trust_and_loads_with_it(fitted, mixed, tmp_path):
    _, _, X_test, _ = mixed
    old = _legacy_file(fitted["LightGBM"], tmp_path / "pipeline.tfp")
    with pytest.raises(DataError, match=r"pickle.*trust=True"):
        tightfit.load(old)
    np.testing.assert_array_equal(tightfit.load(old, trust=True).predict(X_test), fitted["LightGBM"].predict(X_test))
    with pytest.raises(ConfigError, match="trust"):
        tightfit.load(old, trust="yes")


class _Payload:
    """Unpickling this runs code: it writes a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('pwned')",)


def test_a_crafted_pickle_never_runs_by_default(fitted, tmp_path):
    marker = tmp_path / "pwned"
    crafted = tmp_path / "evil.tfp"
    crafted.write_bytes(pickle.dumps({"format_version": 1, "pipeline": _Payload(marker)}))
    with pytest.raises(DataError, match="trust=True"):
        tightfit.load(crafted)
    folder = fitted["LightGBM"].save(tmp_path / "run" / "model")  # a model folder whose estimator is a pickle
    header = (folder / "pipeline.json").read_text().replace('"kind": "skops"', '"kind": "pickle"')
    (folder / "pipeline.json").write_text(header)
    (folder / "model.pkl").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(DataError, match="trust=True"):
        tightfit.load(tmp_path / "run")
    assert not marker.exists()


def test_a_skops_file_naming_an_untrusted_type_is_refused_before_it_is_built(fitted, tmp_path):
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    folder = fitted["LightGBM"].save(tmp_path / "model")
    sio.dump(FunctionTransformer(func=print), folder / "model.skops")  # would call into builtins.print
    with pytest.raises(DataError, match=r"does not trust.*builtins.print"):
        tightfit.load(folder)


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda f: (f / "model.safetensors").write_bytes((f / "model.safetensors").read_bytes()[:500]), "safetensors"),
        (lambda f: (f / "processor.skops").write_bytes((f / "processor.skops").read_bytes()[:300]), "skops"),
        (lambda f: (f / "pipeline.json").write_text('{"format": "tightfit.tabular_pipeline", "format'), "JSON"),
        (
            lambda f: (f / "pipeline.json").write_text(
                (f / "pipeline.json").read_text().replace('"format_version": 2', '"format_version": 9')
            ),
            "version 9",
        ),
        (lambda f: (f / "estimator.skops").unlink(), "does not exist"),
    ],
    ids=["truncated-weights", "truncated-processor", "truncated-header", "future-version", "missing-file"],
)
def test_a_damaged_artefact_is_a_data_error_naming_the_file(fitted, tmp_path, damage, match):
    folder = fitted["TinyTFM"].save(tmp_path / "model")
    damage(folder)
    with pytest.raises(DataError, match=match):
        tightfit.load(folder)


def test_a_folder_without_a_model_says_what_it_looked_for(tmp_path):
    with pytest.raises(DataError, match=r"no saved model.*pipeline.json"):
        tightfit.load(tmp_path)
    with pytest.raises(DataError, match="no such run folder"):
        tightfit.load(tmp_path / "absent")
