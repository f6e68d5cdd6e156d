"""executor="ray": candidates run as Ray tasks on a local Ray instance (2 CPUs), still capped by the guard inside
each task — the same leaderboard as the local executor, and a candidate over its memory cap is an over_limit row."""

import sys

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer

from tightfit import AutoFit, Budget, ConfigError
from tightfit.search import Entry, Measured, run_candidates
from tightfit.tabular import Candidate

pytestmark = pytest.mark.cluster  # make test-cluster (CI runs it after make test)
ray = pytest.importorskip("ray")  # make test-cluster installs the ray extra
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # test modules are not importable by Ray's workers


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def allocate(megabytes, time_left):
    block = np.ones(megabytes * 2**20 // 8)  # touched: resident
    return Measured(quality=float(block[0]), metric="ones")


def test_autofit_on_ray_gives_the_local_leaderboard(local_ray):
    X, y = load_breast_cancer(return_X_y=True)
    candidates = [Candidate("LogisticRegression", "LogisticRegression"), Candidate("LightGBM", "LightGBM")]
    boards = {}
    for executor in ("local", "ray"):
        auto = AutoFit(Budget(memory="3GB"), candidates=candidates, cv=3, verbose=False, executor=executor).fit(X, y)
        boards[executor] = {e.name: (e.status, e.measured.quality) for e in auto.search_.entries}
    assert boards["ray"] == boards["local"]
    assert sorted(status for status, _ in boards["ray"].values()) == ["chosen", "fits"]


def test_a_candidate_over_its_cap_inside_a_ray_task_is_over_limit(local_ray):
    entries = [Entry("small", 10), Entry("too big", 1500)]
    board = run_candidates(entries, Budget(memory="800MB"), allocate, executor="ray", applies=("memory",),
                           verbose=False)  # fmt: skip
    assert board["small"].status == "chosen"
    assert board["too big"].status == "over_limit" and board["too big"].verdict.limit == "memory"
    assert ray.is_initialized()  # the worker was not lost: the guard's child died, not the Ray task


def test_ray_missing_names_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'tightfit\[ray\]'"):
        run_candidates([Entry("a", 1)], Budget(), allocate, executor="ray", verbose=False)
    with pytest.raises(ConfigError, match="executor='ray' needs Ray"):
        AutoFit(executor="ray")


def test_forecaster_and_plan_on_ray_give_the_local_choice(local_ray, elnino_df, digits):
    from tightfit.plan import plan
    from tightfit.timeseries import Forecaster
    from tightfit.train import TrainConfig

    models = ["SeasonalNaive", "AutoETS"]
    scores = {}
    for executor in ("local", "ray"):
        fc = Forecaster(horizon=12, season_length=12, models=models, n_windows=2, verbose=False, executor=executor)
        scores[executor] = {e.name: (e.status, e.measured.quality) for e in fc.fit(elnino_df).search_.entries}
    assert scores["ray"] == scores["local"]
    data = (digits[0][:256], digits[1][:256])
    base = TrainConfig(micro_batch=64, epochs=1, verbose=False)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))  # importable
    result = plan(model, data, Budget(memory="2GB", device="cpu"), base_config=base, max_measured=1,
                  executor="ray")  # fmt: skip
    chosen = result.leaderboard.chosen
    assert chosen is not None and chosen.measured.peak_bytes < 2e9  # the guard measured the trial inside Ray
