"""Shared fixtures: small real data (scikit-learn's bundled digits) and tiny models built in the tests."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import torch
from sklearn.datasets import load_digits, load_wine
from torch import nn


@pytest.fixture(scope="session")
def digits():
    """Digits scaled to [0, 1], shuffled once with a fixed seed: (X_train, y_train, X_test, y_test)."""
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(X))
    X, y = (X[order] / 16.0).astype(np.float32), y[order]
    return X[:1300], y[:1300], X[1300:], y[1300:]


@pytest.fixture(scope="session")
def wine_autofit_under_a_size_limit():
    """(AutoFit, X, y): one AutoFit on wine (string labels) under a 500 kB size limit, shared by the tests that read
    its leaderboard: the TinyTFM's 1.4 MB of weights are over the limit, which brings its distilled student."""
    from tightfit import AutoFit, Budget
    from tightfit.tabular import Candidate

    data = load_wine(as_frame=True)
    X, y = data.frame.drop(columns="target"), pd.Series(np.array(["barolo", "grignolino", "barbera"])[data.target])
    candidates = [Candidate("TinyTFM zero-shot", "TinyTFM"), Candidate("LogisticRegression", "LogisticRegression"),
                  Candidate("RandomForest", "RandomForest", model_params={"n_estimators": 30})]  # fmt: skip
    return AutoFit(Budget(size="500kB", memory="3GB"), candidates=candidates, verbose=False).fit(X, y), X, y


class Block(nn.Module):
    """A pre-norm residual MLP block, the repeated unit of :class:`BlockNet`."""

    def __init__(self, width: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return x + self.drop(self.fc2(nn.functional.gelu(self.fc1(self.norm(x)))))


class BlockNet(nn.Module):
    """Input projection, ``n_blocks`` residual blocks in a ModuleList, a head."""

    def __init__(self, n_in=64, n_out=10, width=64, hidden=128, n_blocks=2, dropout=0.0):
        super().__init__()
        self.embed = nn.Linear(n_in, width)
        self.blocks = nn.ModuleList(Block(width, hidden, dropout) for _ in range(n_blocks))
        self.head = nn.Linear(width, n_out)

    def forward(self, x):
        x = self.embed(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def make_blocknet(seed=0, **kwargs) -> BlockNet:
    torch.manual_seed(seed)
    return BlockNet(**kwargs)


def accuracy(model: nn.Module, X, y) -> float:
    model.eval()
    with torch.no_grad():
        pred = model(torch.as_tensor(X)).argmax(1).numpy()
    model.train()
    return float((pred == np.asarray(y)).mean())


@pytest.fixture
def make_net():
    """Factory of seeded BlockNets: ``make_net(seed=0, n_blocks=2, ...)``."""
    return make_blocknet


@pytest.fixture
def accuracy_of():
    return accuracy


# Real series that ship inside statsmodels, in long format (forecasting tests and the search contract).
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
