"""CUDA paths wired right, checked on a CPU machine with the CUDA calls faked: a memory budget caps device memory
in every guarded child and the device peak is what the limit is judged on; the Forecaster's neural models
follow Budget.device. (benchmarks/gpu_check.py runs them for real where a GPU is lent.)"""

import numpy as np
import pytest
from sklearn.datasets import load_wine

import tightfit.search.executors as executors
from tightfit import AutoFit, Budget
from tightfit.guard import Guarded
from tightfit.search import Measured
from tightfit.tabular import Candidate
from tightfit.timeseries.models import model_stack


@pytest.fixture
def fake_cuda(monkeypatch):
    calls = []

    def fake_local(fn, *args, memory, time, cuda_memory, preload=(), until=None):
        calls.append({"memory": memory, "cuda_memory": cuda_memory})
        peak = {"LogisticRegression": 1_500_000_000, "RandomForest": 3_000_000_000}[args[0].label]
        return Guarded(Measured(quality=0.9, metric="roc_auc_score"), 400_000_000, peak, 1.0)

    monkeypatch.setattr(Budget, "resolve_device", lambda self: "cuda")
    monkeypatch.setitem(executors.EXECUTORS, "local", fake_local)
    return calls


def test_autofit_caps_device_memory_and_judges_the_device_peak(fake_cuda):
    X, y = load_wine(return_X_y=True)
    candidates = [Candidate("LogisticRegression", "LogisticRegression"), Candidate("RandomForest", "RandomForest")]
    auto = AutoFit(Budget(memory="2GB", device="cuda"), candidates=candidates, verbose=False).fit(X, y)
    assert fake_cuda == [{"memory": None, "cuda_memory": 2_000_000_000}] * 2  # the device is capped, not host RSS
    board = auto.search_
    assert board["LogisticRegression"].status == "chosen"
    assert board["RandomForest"].status == "over_limit" and board["RandomForest"].reason == "peak memory 3GB > 2GB"
    assert board["LogisticRegression"].measured.device_peak_bytes == 1_500_000_000
    assert "the chosen one peaked at 1.5GB" in board.binding.evidence


def test_the_forecasters_neural_models_train_on_the_budgets_device(monkeypatch):
    import pandas as pd

    from tightfit.train.engine import Trainer

    seen = []

    def record(self, train_data, val_data=None, budget=None, resume=False):
        seen.append(budget.device)
        raise RuntimeError("stop here: only the device is under test")

    monkeypatch.setattr(Trainer, "fit", record)
    model = model_stack(["DLinear"], None, None, "cuda:1")[0]
    frame = pd.DataFrame({"unique_id": "s", "ds": np.arange(60), "y": np.sin(np.arange(60) / 3)})
    with pytest.raises(RuntimeError, match="stop here"):
        model.forecast(frame, 4, 1, 1, (80,), 0, None)
    assert seen == ["cuda:1"]
    assert model_stack(["NHITS", "ChronosBolt"], None, None, "cuda")[1].device == "cuda"
