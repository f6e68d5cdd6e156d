"""MemoryMonitor sees a 300 MB allocation in its samples, marks phases, and plots a real PNG."""

import mmap
import time

import numpy as np
import torch

from tightfit.measure import MemoryMonitor, peak_rss

MB = 1_000_000


def test_sees_300mb_within_sampling_period(tmp_path):
    with MemoryMonitor(interval_ms=10, device="cpu") as mon:
        mon.mark("allocate")
        block = torch.ones(300 * MB // 4)  # 300 MB, written so the pages are resident
        time.sleep(0.1)  # ten sampling periods
        mon.mark("free")
        del block
        time.sleep(0.05)
    sampled_peak = max(mon.timeline.rss)
    assert sampled_peak - mon.baseline >= 280 * MB  # the background samples saw it, not only the kernel's mark
    assert mon.peak >= sampled_peak
    assert mon.timeline.rss[-1] < sampled_peak - 250 * MB  # and saw it go away
    assert len(mon.timeline.t) == len(mon.timeline.rss) >= 10
    assert mon.timeline.t == sorted(mon.timeline.t)
    phases = mon.phase_peaks()
    assert phases["allocate"] - mon.baseline >= 280 * MB
    assert [label for _, label in mon.timeline.marks] == ["allocate", "free"]

    png = mon.plot(tmp_path / "memory.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 5_000


def test_kernel_high_water_mark_catches_short_spikes():
    # The spike is fresh pages (an anonymous mapping, each page touched): a heap allocation may reuse freed
    # memory that is still resident (after earlier tests in the same process), which raises no RSS at all.
    with MemoryMonitor(interval_ms=1000, device="cpu") as mon:  # far slower than the spike
        spike = mmap.mmap(-1, 200 * MB)
        for offset in range(0, 200 * MB, mmap.PAGESIZE):
            spike[offset] = 1
        spike.close()
    assert mon.peak - mon.baseline >= 180 * MB


def test_bad_arguments_raise_config_error():
    import pytest

    from tightfit import ConfigError

    with pytest.raises(ConfigError, match="'interval_ms' parameter of MemoryMonitor"):
        MemoryMonitor(interval_ms=0)
    with pytest.raises(ConfigError, match="'device' parameter of MemoryMonitor"):
        MemoryMonitor(device="gpu")


def _peak_rss_after_touching(n_bytes: int) -> int:
    block = np.ones(n_bytes // 8)
    del block
    return peak_rss()


def test_child_peak_rss_is_its_own_not_the_parents():
    """Linux carries ru_maxrss across exec: a child of a big parent would report the parent's peak."""
    from tightfit.guard import run_limited

    parent_block = np.ones(600_000_000 // 8)  # the parent holds 600 MB while the child runs
    child_peak = run_limited(_peak_rss_after_touching, 100_000_000)
    del parent_block
    assert 100_000_000 <= child_peak < 450_000_000  # its 100 MB plus an interpreter with numpy
