"""Where an entry's evaluation runs: ``"local"`` (a guarded child process), ``"inline"`` (this process) or
``"ray"`` (a Ray task, on a cluster when one is running).

``local`` is the default: the child runs under the memory cap and the time left, and the guard returns its
peak RSS (whole process tree), CUDA peak and wall time. ``inline`` is for evaluations that must share this
process: compression variants timed side by side against the original, or forecasters where children are
fresh interpreters (not Linux) whose imports would cost seconds per model. Inline runs are measured with a
sampled :class:`~tightfit.measure.MemoryMonitor` (the RSS added at the peak) and cannot be killed at the
deadline.

``ray`` sends each evaluation to a Ray task that asks for ``num_cpus`` (and a GPU where the budget caps device
memory) and runs the *same* guarded child inside the task: Ray's ``memory`` resource schedules tasks but does
not enforce it, so the cap is still the guard's, and a candidate over it is an ``over_limit`` entry, not a dead
worker. ``ray.init(address="auto")`` joins a running cluster; without one a local instance starts. The
deadline crosses machines as the time left when the task is sent. Ray is optional (``pip install
tightfit[ray]``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tightfit.guard import Guarded, run_measured

__all__ = ["EXECUTORS", "check_executor", "require_ray", "run_inline", "run_local", "run_ray"]


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


RAY_TASK_CPUS = 1


def require_ray():
    """The ``ray`` module, or a ConfigError naming what to install (checked where ``executor="ray"`` is typed)."""
    try:
        import ray
    except ImportError:
        from tightfit.errors import ConfigError

        raise ConfigError("executor='ray' needs Ray: pip install 'tightfit[ray]' (or pip install ray).") from None
    return ray


def _ray():
    """The ``ray`` module, connected: to the cluster at ``address="auto"`` when one runs, else a local one."""
    ray = require_ray()
    if not ray.is_initialized():
        try:
            ray.init(address="auto", log_to_driver=False, logging_level="ERROR")
        except ConnectionError:  # no cluster is running: a local instance on this machine
            ray.init(log_to_driver=False, logging_level="ERROR", include_dashboard=False)
    return ray


def run_ray(fn: Callable, *args: Any, memory: int | None, time: float | None, cuda_memory: int | None,
            preload: Sequence[str] = (), until: float | None = None) -> Guarded:  # fmt: skip
    """In a Ray task, inside which the guard runs ``fn`` in its capped child (see the module docstring)."""
    from time import perf_counter

    ray = _ray()
    if until is not None:  # a perf_counter moment means nothing on another machine: send the time left
        left = max(until - perf_counter(), 0.0)
        time = left if time is None else min(time, left)
    task = ray.remote(num_cpus=RAY_TASK_CPUS, num_gpus=1 if cuda_memory else 0, max_retries=0)(run_measured)
    try:
        return ray.get(task.remote(fn, *args, memory=memory, time=time, cuda_memory=cuda_memory, preload=preload))
    except ray.exceptions.RayTaskError as exc:  # the guard's verdict (BudgetExceeded, ...) as it was raised
        raise exc.cause from None


EXECUTORS: dict[str, Callable[..., Guarded]] = {"local": run_local, "inline": run_inline, "ray": run_ray}


def check_executor(owner: str, executor: str | None, allowed: Sequence[str] = tuple(EXECUTORS),
                   optional: bool = False) -> None:  # fmt: skip
    """Where ``executor`` is typed: one of ``allowed`` (or None where ``optional``: the owner picks), and for
    ``"ray"`` an installed Ray."""
    from tightfit.params import Options, check

    check(owner, executor=(executor, *([None] if optional else []), Options(*allowed)))
    if executor == "ray":
        require_ray()
