"""latency: percentiles are ordered and reflect the real call time."""

import time

import pytest

from tightfit import ConfigError
from tightfit.measure import latency


def test_sleep_is_timed_within_tolerance():
    report = latency(time.sleep, 0.01, warmup=1, repeats=15)
    assert report.n_repeats == 15 == len(report.samples)
    assert 0.0095 <= report.p50_s <= 0.03
    assert report.p50_s <= report.p95_s <= max(report.samples)
    assert report.std_s >= 0


def test_adaptive_repeats_respect_min_time():
    started = time.perf_counter()
    report = latency(lambda: None, warmup=0, min_time_s=0.05, max_repeats=10**9)
    assert report.n_repeats > 10
    assert time.perf_counter() - started >= 0.05


def test_rejects_bad_repeats():
    with pytest.raises(ConfigError, match="'repeats' parameter of latency"):
        latency(lambda: None, repeats=0)
