"""release_memory: on glibc, the RSS peak of CPU training follows the live tensors, steady from step to step,
where the default allocator keeps freed activations and drifts up. Run in child processes, because the
setting is process-wide and permanent."""

import dataclasses
import platform

import pytest
import torch
from torch import nn

from tightfit.guard import run_limited
from tightfit.measure import MemoryMonitor
from tightfit.train import TrainConfig, Trainer

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")


def _peaks(model, data, config, steps: list[int]) -> list[int]:
    """In a child: the RSS peak of each run of ``steps[i]`` optimizer steps, one after the other."""
    peaks = []
    for n in steps:
        with MemoryMonitor(interval_ms=5, device="cpu") as monitor:
            Trainer(model, None, dataclasses.replace(config, max_steps=n, epochs=100)).fit(data)
        peaks.append(monitor.peak)
    return peaks


def test_release_memory_keeps_the_peak_steady_and_below_the_default_allocators():
    torch.manual_seed(0)
    blocks = [nn.Sequential(nn.Linear(128, 128), nn.ReLU()) for _ in range(4)]
    model = nn.Sequential(nn.Linear(64, 128), *blocks, nn.Linear(128, 10))
    data = (torch.randn(16384, 64), torch.randint(0, 10, (16384,)))
    config = TrainConfig(micro_batch=4096, accumulation=4, verbose=False)

    short, long = run_limited(_peaks, model, data, dataclasses.replace(config, release_memory=True), [2, 4])
    assert abs(long - short) <= 0.02 * short  # steady: no drift with steps
    (drifted,) = run_limited(_peaks, model, data, config, [4])
    assert long < drifted - 20e6, (long, drifted)  # the default allocator keeps freed activations
