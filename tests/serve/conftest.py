"""A mixed-type table from a real data set (scikit-learn's bundled breast_cancer): numbers, a text column, a
boolean and a date, string labels; pipelines fitted on it once per session."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer


@pytest.fixture(scope="session")
def mixed():
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.drop(columns="target").iloc[:, :8].copy()
    rng = np.random.default_rng(0)
    frame["site"] = rng.choice(["north", "south", "east"], len(frame))
    frame["screened"] = rng.random(len(frame)) > 0.5
    frame["seen"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, len(frame)), unit="D")
    y = np.where(data.target == 1, "benign", "malignant")
    return frame.iloc[:400], y[:400], frame.iloc[400:].reset_index(drop=True), y[400:]


@pytest.fixture(scope="session")
def fitted(mixed):
    """A fitted pipeline per model kind that has its own file format."""
    from tightfit.tabular import TabularPipeline

    X, y, _, _ = mixed
    return {name: TabularPipeline(model_name=name).fit(X, y) for name in ("TinyTFM", "LightGBM", "RandomForest")}
