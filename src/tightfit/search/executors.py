"""Where an entry's evaluation runs: ``"local"`` (a guarded child process) or ``"inline"`` (this process).

``local`` is the default: the child runs under the memory cap and the time left, and the guard returns its
peak RSS (whole process tree), CUDA peak and wall time. ``inline`` is for evaluations that must share this
process: compression variants timed side by side against the original, or forecasters where children are
fresh interpreters (not Linux) whose imports would cost seconds per model. Inline runs are measured with a
sampled :class:`~tightfit.measure.MemoryMonitor` (the RSS added at the peak) and cannot be killed at the
deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tightfit.guard import Guarded, run_measured

__all__ = ["EXECUTORS", "run_inline", "run_local"]


def run_local(fn: Callable, *args: Any, memory: int | None, time: float | None, cuda_memory: int | None,
              preload: Sequence[str] = (), until: float | None = None) -> Guarded:  # fmt: skip
    """In a child process under ``memory``/``cuda_memory`` caps, a ``time`` limit from fn's start and a
    deadline ``until`` (a ``perf_counter`` moment, start-up included), forked from a warm server that imported
    ``preload`` where the guard forks (:func:`tightfit.guard.forks_children`)."""
    return run_measured(fn, *args, memory=memory, time=time, cuda_memory=cuda_memory, preload=preload, until=until)


def run_inline(fn: Callable, *args: Any, memory: int | None, time: float | None, cuda_memory: int | None,
               preload: Sequence[str] = (), until: float | None = None) -> Guarded:  # fmt: skip
    """In this process: the sampled RSS it added at its peak and its wall time (no caps can be enforced)."""
    from tightfit.measure import MemoryMonitor, stopwatch

    with MemoryMonitor(device="cpu") as monitor:
        value, seconds = stopwatch(fn, *args)
    return Guarded(value, int(monitor.peak - monitor.baseline), 0, seconds)


EXECUTORS: dict[str, Callable[..., Guarded]] = {"local": run_local, "inline": run_inline}

