"""Real series that ship inside statsmodels, in long format."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm


def elnino() -> pd.DataFrame:
    """Monthly sea surface temperature, 1950-2010 (732 points, season 12)."""
    data = sm.datasets.elnino.load_pandas().data
    y = data.drop(columns="YEAR").to_numpy(dtype=float).reshape(-1)
    return pd.DataFrame({"unique_id": "elnino", "ds": pd.date_range("1950-01-01", periods=len(y), freq="MS"), "y": y})


def nile() -> pd.DataFrame:
    """Yearly Nile volume, 1871-1970 (100 points, no season)."""
    data = sm.datasets.nile.load_pandas().data
    return pd.DataFrame({"unique_id": "nile", "ds": data["year"].astype(int), "y": data["volume"].astype(float)})


def macro(columns=("realgdp", "realcons")) -> pd.DataFrame:
    """Quarterly US macro series, 1959-2009 (203 points each, season 4)."""
    data = sm.datasets.macrodata.load_pandas().data
    ds = pd.date_range("1959-01-01", periods=len(data), freq="QS")
    return pd.concat([pd.DataFrame({"unique_id": c, "ds": ds, "y": data[c].to_numpy(dtype=float)}) for c in columns])


@pytest.fixture
def elnino_df():
    return elnino()


@pytest.fixture
def nile_df():
    return nile()


@pytest.fixture
def macro_df():
    return macro()


@pytest.fixture
def rng():
    return np.random.default_rng(0)
