"""`latency(fn)`: time a call after warm-up; p50/p95/mean/std over repeats, CUDA synchronised.

Repeats are adaptive by default: at least ``min_repeats`` and until ``min_time_s`` has passed (capped
at ``max_repeats``), so fast calls get enough samples for a stable p95 and slow ones do not take forever.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tightfit.errors import bad_param

__all__ = ["LatencyReport", "latency"]


@dataclass
class LatencyReport:
    """Seconds per call over ``n_repeats`` timed calls (after ``warmup`` untimed ones)."""

    p50: float
    p95: float
    mean: float
    std: float
    n_repeats: int
    samples: list[float] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "p50": self.p50,
            "p95": self.p95,
            "mean": self.mean,
            "std": self.std,
            "n_repeats": self.n_repeats,
        }


def _percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    position = (len(sorted_values) - 1) * q
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def _cuda_sync() -> Callable[[], None]:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.cuda.synchronize
    return lambda: None


def latency(
    fn: Callable[..., Any],
    *args: Any,
    warmup: int = 3,
    repeats: int | None = None,
    min_repeats: int = 10,
    max_repeats: int = 1000,
    min_time_s: float = 0.5,
    **kwargs: Any,
) -> LatencyReport:
    """Time ``fn(*args, **kwargs)``; each sample is one call, bracketed by CUDA synchronisation on a GPU.

    Parameters
    ----------
    warmup : int, default=3
        Untimed calls first (allocator warm-up, lazy init, kernel selection).
    repeats : int, default=None
        Exact number of timed calls; ``None`` means adaptive (see the module docstring).

    Examples
    --------
    >>> report = latency(sum, range(1000), repeats=20)
    >>> report.n_repeats, report.p50 <= report.p95
    (20, True)
    """
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise bad_param("warmup", "latency", "an int >= 0", warmup)
    if repeats is not None and (isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1):
        raise bad_param("repeats", "latency", "None or an int >= 1", repeats)
    sync = _cuda_sync()
    for _ in range(warmup):
        fn(*args, **kwargs)
    sync()
    samples: list[float] = []
    started = time.perf_counter_ns()
    while True:
        sync()
        t0 = time.perf_counter_ns()
        fn(*args, **kwargs)
        sync()
        samples.append((time.perf_counter_ns() - t0) / 1e9)
        if repeats is not None:
            if len(samples) >= repeats:
                break
        elif len(samples) >= max_repeats or (
            len(samples) >= min_repeats and (time.perf_counter_ns() - started) / 1e9 >= min_time_s
        ):
            break
    ordered = sorted(samples)
    return LatencyReport(
        p50=_percentile(ordered, 0.5),
        p95=_percentile(ordered, 0.95),
        mean=statistics.fmean(samples),
        std=statistics.pstdev(samples),
        n_repeats=len(samples),
        samples=samples,
    )
