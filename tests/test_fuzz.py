"""Fuzzing (Hypothesis): whatever a user types or feeds, the result is a fitted model or a TightfitError that names
the problem — never another exception. The CI profile keeps each test to seconds; ``make fuzz`` runs it long."""

import math
import os
import string

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tightfit import AutoFit, Budget, TightfitError
from tightfit.read import read_table
from tightfit.tabular import Candidate, TabularPipeline
from tightfit.timeseries import Forecaster

settings.register_profile("ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

NAMES = st.text(alphabet=string.ascii_letters + "ßéü汉 _-;,", min_size=0, max_size=6)
CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10), st.text(max_size=4), st.none(),
    st.booleans(),
)  # fmt: skip


@given(st.text(max_size=60))
def test_any_budget_text_parses_or_is_a_config_error(text):
    try:
        budget = Budget.parse(text)
    except TightfitError:
        return
    assert Budget.parse(str(budget)) == budget  # what prints parses back


@given(st.one_of(st.floats(), st.integers(), st.text(max_size=12)), st.sampled_from(["memory", "time", "latency"]))
def test_any_budget_value_is_accepted_whole_or_refused(value, field):
    try:
        budget = Budget(**{field: value})
    except TightfitError:
        return
    parsed = getattr(budget, field)
    assert parsed > 0 and math.isfinite(parsed)


@given(st.binary(max_size=400))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_file_reads_or_is_a_data_error(tmp_path, content):
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    try:
        frame, _ = read_table(path)
    except TightfitError:
        return
    assert len(frame) >= 1


@st.composite
def tables(draw):
    rows = draw(st.sampled_from([1, 2, 3, 8, 40]))
    n_cols = draw(st.sampled_from([1, 2, 5, 300]))
    names = draw(st.lists(NAMES, min_size=n_cols, max_size=n_cols))
    columns = {}
    for i, name in enumerate(names):
        kind = draw(st.sampled_from(["float", "mixed", "text", "constant"])) if n_cols < 300 else "float"
        if kind == "float":
            values = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=rows,
                                   max_size=rows))  # fmt: skip
        elif kind == "constant":
            values = [1.0] * rows
        elif kind == "text":
            values = draw(st.lists(st.text(alphabet="abcé汉", max_size=3), min_size=rows, max_size=rows))
        else:
            values = draw(st.lists(CELLS, min_size=rows, max_size=rows))
        columns[(name, i)] = values
    frame = pd.DataFrame({k: v for k, v in columns.items()})
    frame.columns = [name for name, _ in columns]  # duplicates and empty names on purpose
    kind = draw(st.sampled_from(["labels", "labels", "labels", "with missing", "mixed"]))
    pool = {"labels": st.sampled_from(["a", "b"]), "with missing": st.one_of(st.sampled_from(["a", "b"]), st.none()),
            "mixed": st.one_of(st.sampled_from(["a", "b"]), st.none(), st.just(1.0))}[kind]  # fmt: skip
    y = draw(st.lists(pool, min_size=rows, max_size=rows))
    return frame, pd.Series(y, name="target")


@pytest.mark.parametrize("model", ["LogisticRegression", "TinyTFM"])
@given(data=tables())
def test_any_table_fits_or_is_a_tightfit_error(model, data):
    X, y = data
    try:
        pipe = TabularPipeline(model).fit(X, y)
    except TightfitError:
        return
    proba = pipe.predict_proba(X)
    assert proba.shape == (len(X), len(pipe.classes_)) and np.isfinite(proba).all()


@given(data=tables())
@settings(max_examples=3)
def test_any_table_through_autofit(data):
    X, y = data
    try:
        auto = AutoFit(candidates=[Candidate("LogisticRegression", "LogisticRegression")], cv=2, verbose=False)
        auto.fit(X, y)
    except TightfitError:
        return
    assert len(auto.predict(X)) == len(X)


@given(
    values=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=1, max_size=40),
    dates=st.sampled_from(["dates", "ints", "text"]),
)
def test_any_series_forecasts_or_is_a_tightfit_error(values, dates):
    n = len(values)
    ds = {"dates": pd.date_range("2000-01-01", periods=n, freq="MS"), "ints": np.arange(n),
          "text": [f"t{i}" for i in range(n)]}[dates]  # fmt: skip
    frame = pd.DataFrame({"unique_id": "s", "ds": ds, "y": values})
    try:
        fc = Forecaster(horizon=2, models=["Naive"], n_windows=1, verbose=False).fit(frame)
    except TightfitError:
        return
    assert np.isfinite(fc.predict()["Naive"]).all()
