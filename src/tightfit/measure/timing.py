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

from tightfit.params import Interval, check

__all__ = ["Deadline", "LatencyReport", "latency", "stopwatch"]


@dataclass
class LatencyReport:
    """Seconds per call over ``n_repeats`` timed calls (after ``warmup`` untimed ones)."""

    p50_s: float
    p95_s: float
    mean_s: float
    std_s: float
    n_repeats: int
    samples: list[float] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "p50_s": self.p50_s,
            "p95_s": self.p95_s,
            "mean_s": self.mean_s,
            "std_s": self.std_s,
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
    >>> report.n_repeats, report.p50_s <= report.p95_s
    (20, True)
    """
    check("latency", warmup=(warmup, Interval(int, 0)), repeats=(repeats, None, Interval(int, 1)))
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
        p50_s=_percentile(ordered, 0.5),
        p95_s=_percentile(ordered, 0.95),
        mean_s=statistics.fmean(samples),
        std_s=statistics.pstdev(samples),
        n_repeats=len(samples),
        samples=samples,
    )


def stopwatch(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """Call ``fn(*args, **kwargs)`` once; its result and its wall time in seconds (CUDA synchronised).

    Examples
    --------
    >>> value, seconds = stopwatch(sum, [1, 2])
    >>> value, seconds >= 0
    (3, True)
    """
    sync = _cuda_sync()
    sync()
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    sync()
    return value, time.perf_counter() - started


class Deadline:
    """A wall-clock deadline ``seconds`` from now (``None``: none). ``left()`` is the time left (None when
    unbounded, never below zero) less ``keep``, seconds kept back for work after the search (saving, a report);
    ``elapsed()`` the time since it was set, ``spent`` seconds earlier than now.

    Examples
    --------
    >>> Deadline(None).left() is None, Deadline(60).left() > 59, Deadline(60, keep=10).left() < 50
    (True, True, True)
    """

    def __init__(self, seconds: float | None, keep: float = 0.0, spent: float = 0.0) -> None:
        self.started = time.perf_counter() - spent
        self.seconds, self.keep = seconds, keep

    @classmethod
    def since_process_start(cls, seconds: float | None, keep: float = 0.0) -> Deadline:
        """A deadline counted from the moment this process started (a command's budget covers its start-up:
        the interpreter, the imports, reading the data)."""
        import psutil

        return cls(seconds, keep, spent=max(0.0, time.time() - psutil.Process().create_time()))

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def left(self) -> float | None:
        return None if self.seconds is None else max(0.0, self.seconds - self.keep - self.elapsed())
