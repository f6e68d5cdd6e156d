"""The declarative parameter checker: one wording for every bad value, booleans never pass as numbers, and the
one device rule serves Budget, estimate, MemoryMonitor and TinyTFMClassifier alike."""

import numpy as np
import pytest

from tightfit import Budget, ConfigError
from tightfit.measure import MemoryMonitor
from tightfit.params import Interval, Options, check, check_device
from tightfit.plan import estimate


def test_intervals_options_types_and_none():
    check("demo", n=(3, Interval(int, 1)), k=(np.int64(2), Interval(int, 1)), rate=(0.5, Interval(float, 0, 1)))
    check("demo", mode=("median", None, Options("median")), budget=(None, None, Budget))
    with pytest.raises(ConfigError, match=r"^The 'n' parameter of demo must be an int >= 1. Got True instead.$"):
        check("demo", n=(True, Interval(int, 1)))
    with pytest.raises(ConfigError, match=r"'rate' parameter of demo must be a number in \(0, 1\]. Got 0 instead"):
        check("demo", rate=(0, Interval(float, 0, 1, closed="right")))
    with pytest.raises(ConfigError, match=r"must be None or one of 'median'. Got 'mean' instead"):
        check("demo", mode=("mean", None, Options("median")))
    with pytest.raises(ConfigError, match=r"'budget' parameter of demo must be None or a Budget. Got 'str' instead"):
        check("demo", budget=("2GB", None, Budget))
    with pytest.raises(ConfigError, match="must be a fraction in"):
        check("demo", f=(float("nan"), Interval(float, 0, 1, what="a fraction in [0, 1]")))


@pytest.mark.parametrize(
    ("build", "owner"),
    [
        (lambda d: Budget(device=d), "Budget"),
        (lambda d: MemoryMonitor(device=d), "MemoryMonitor"),
    ],
)
def test_one_device_rule(build, owner):
    for bad in ("gpu", "cuda:x", 0, "CPU"):
        with pytest.raises(ConfigError, match=f"'device' parameter of {owner} must be one of 'auto', 'cpu'"):
            build(bad)
    assert check_device("cuda:3", "x") == "cuda:3"


def test_estimate_takes_no_auto_device():
    import torch

    from tightfit.train import TrainConfig

    batch = (torch.zeros(1, 2), torch.zeros(1, 2))
    with pytest.raises(ConfigError, match="'device' parameter of estimate must be one of 'cpu', 'cuda' or 'cuda:N'"):
        estimate(torch.nn.Linear(2, 2), batch, TrainConfig(), device="auto")
