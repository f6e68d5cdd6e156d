"""`estimate(model, sample_batch, config)`: the peak memory of a training step, predicted without the hardware.

The engine's own training loop (``Trainer.fit``) runs two steps of a one-batch epoch under
``FakeTensorMode``, counted by the same :class:`~tightfit.measure.TensorTracker` that ``track_peak`` uses:
every tensor has a shape, dtype and device but no data, so a config for a large model costs no memory
and little time to estimate. Two steps, because the optimizer creates its state during the first
update: the second step is the steady state a long run sees. Each runs at most two of its micro-steps: with
equal chunks, a third allocates exactly what the second did (gradients already exist), so accumulation costs
the estimate nothing.

What is modelled and what is an allowance
-----------------------------------------
``peak`` is modelled exactly (it equals ``track_peak`` of the same two steps run for real on the same
device). On top of it, ``allowances`` are reported separately:

- CUDA: ``allocator_rounding`` (the caching allocator hands out 512-byte blocks; included in ``device_peak``
  since ``torch.cuda.max_memory_allocated`` counts it), ``cublas_workspace`` (torch's default cuBLAS
  workspace, allocated through the caching allocator on the first matmul), and ``cuda_context`` (the
  driver context, outside the allocator: in ``nvidia-smi``, not in ``max_memory_allocated``).
- CPU: ``process_baseline`` (measured: a child trains the model for two steps at two rows; its RSS minus that
  run's tensor peak is the interpreter, libraries, kernel caches and thread pools), ``allocator_slack``
  (freed memory the C allocator keeps, a fraction of the peak fitted on the estimate zoo; none with
  ``config.release_memory``, where freed tensors go back to the OS at once) and
  ``startup_peak`` (that child's lifetime peak, a floor): together with ``peak`` they predict the process
  RSS peak (``process_peak``).

A model that cannot run under fake tensors (custom C++ ops without fake kernels, data-dependent Python
control flow) falls back to measuring one real step in a child process under ``guard.run_limited``;
``method`` says which was used.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import is_fake

from tightfit.errors import ConfigError, TightfitError
from tightfit.logs import loggers_quieted
from tightfit.measure.tracker import TensorTracker
from tightfit.params import Interval, Options, check, check_device
from tightfit.train.config import SHARDS, TrainConfig
from tightfit.train.data import n_rows
from tightfit.train.engine import Trainer

__all__ = ["CUDA_BLOCK_BYTES", "Estimate", "estimate", "process_baseline"]

log = logging.getLogger(__name__)

CUDA_BLOCK_BYTES = 512  # the caching allocator rounds every block up to this (c10/cuda/CUDACachingAllocator.cpp)
CUBLAS_WORKSPACE_BYTES = 4096 * 1024 * 2 + 16 * 1024 * 8  # torch's default CUBLAS_WORKSPACE_CONFIG=":4096:2:16:8"
CUBLAS_WORKSPACE_BYTES_SM90 = 32 * 1024 * 1024  # Hopper and newer: torch defaults to one 32 MiB workspace
CUDA_CONTEXT_BYTES = 500 * 10**6  # driver context + kernels; varies by GPU and driver (300-900 MB seen)
# Of the tensor peak: what glibc keeps after frees. On the zoo's 20 RSS runs (benchmarks/results/estimate.json)
# 0.10 under-predicted every row (mean |error| 4.3%, worst -13.7%); 0.25 gives mean 3.6%, worst -12.6%, and
# over-predicts by 1.8% at most, the safe side for a planner that promises "fits".
ALLOCATOR_SLACK = 0.25
# What glibc can keep over a long run: on tests/plan/zoo.py's MLP the kept memory grew with steps, to 0.64-0.80
# of the tensor peak at 30 steps (fp32 8192x4 and 4096x8; 0.21-0.27 for bf16 16384x2). The planner keeps the
# default allocator only when even this much fits.
FRAGMENTATION_BOUND = 1.0


@dataclass
class Estimate:
    """A predicted peak, in bytes. ``peak`` is modelled; ``allowances`` are documented additions.

    ``device_peak`` is the figure to hold against a GPU budget (``torch.cuda.max_memory_allocated``);
    ``process_peak`` the figure to hold against a CPU RAM budget (process RSS).
    """

    peak: int
    breakdown: dict[str, int]
    device: str
    method: str  # "fake" (modelled) or "measured" (a real step in a child process)
    allowances: dict[str, int] = field(default_factory=dict)
    seconds_spent: float = 0.0
    note: str = ""
    world_size: int = 1
    shard: str | None = None  # per-rank figures of a data-parallel run: "ddp" or "fsdp"

    @property
    def device_peak(self) -> int:
        """CUDA: modelled peak with block rounding plus the cuBLAS workspace; CPU: the modelled peak."""
        if self.device.startswith("cuda"):
            return self.peak + self.allowances.get("allocator_rounding", 0) + self.allowances.get("cublas_workspace", 0)
        return self.peak

    @property
    def process_peak(self) -> int:
        """CPU: predicted peak RSS of the whole training process: baseline + tensors + allocator slack, or the
        start-up peak of the calibration run (imports have transient peaks) when that is higher."""
        steady = self.peak + self.allowances.get("process_baseline", 0) + self.allowances.get("allocator_slack", 0)
        return max(steady, self.allowances.get("startup_peak", 0))

    def released(self) -> Estimate:
        """The same step in a process that releases freed memory at once (``TrainConfig.release_memory``):
        no allocator slack."""
        if "allocator_slack" not in self.allowances:
            return self
        return dataclasses.replace(self, allowances=self.allowances | {"allocator_slack": 0})

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.update(device_peak=self.device_peak, process_peak=self.process_peak)
        return data


def _rows_like(value: Any, rows: int, mode) -> Any:
    """A fake tensor like ``value`` with ``rows`` rows (no data), recursively for tuples/lists/dicts."""
    if isinstance(value, torch.Tensor):
        shape = (rows, *value.shape[1:])
        with mode:
            return torch.empty(shape, dtype=value.dtype, device=value.device)
    if isinstance(value, dict):
        return {k: _rows_like(v, rows, mode) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_rows_like(v, rows, mode) for v in value)
    return value


def _as_tensors(sample_batch: Any) -> Any:
    if isinstance(sample_batch, (tuple, list)) and not all(isinstance(v, torch.Tensor) for v in sample_batch):
        from tightfit.train.data import as_dataset

        return as_dataset(sample_batch, "sample_batch").tensors
    return sample_batch


def _fake_tensors(model: nn.Module, mode) -> dict[int, Any]:
    """Fake twins of the model's real parameters and buffers, keyed by the id of the real tensor."""
    twins: dict[int, Any] = {}
    for module in model.modules():
        for tensor in (*module._parameters.values(), *module._buffers.values()):
            if tensor is None or id(tensor) in twins or is_fake(tensor):
                continue
            fake = mode.from_tensor(tensor)
            twins[id(tensor)] = (
                nn.Parameter(fake, requires_grad=tensor.requires_grad) if isinstance(tensor, nn.Parameter) else fake
            )
    return twins


def _fake_model(model: nn.Module, mode) -> nn.Module:
    """A copy of ``model`` whose parameters and buffers are fake: the structure is copied, the data is not."""
    return copy.deepcopy(model, _fake_tensors(model, mode))


def _fake_in_place(model: nn.Module, mode) -> None:
    """Replace the real tensors a technique added (LoRA adapters) by fake twins, in place."""
    twins = _fake_tensors(model, mode)
    for module in model.modules():
        for slots in (module._parameters, module._buffers):
            for name, tensor in slots.items():
                if tensor is not None and id(tensor) in twins:
                    slots[name] = twins[id(tensor)]


class _FakeStepTracker(TensorTracker):
    """The tracker of a fake step, which also answers ``.item()`` on a fake tensor with 1 (of its dtype) instead of
    failing — False for ``any()``. One dispatch mode for both: each mode on the stack costs every op a dispatch.

    Fake tensors have no values, but the training loop reads a few scalars — the loss for the progress bar,
    Adafactor's step count and parameter norm. Those values steer arithmetic, not allocation, so any value
    gives the same memory; 1 is finite, positive and true, so no guard takes a skip branch. ``mask.any()`` is
    the exception: models test it for rows to special-case (TabICL: ``if skip_mask.any(): if skip_mask.all():
    <skip the attention>``), and True there would skip the work ordinary data does; so a scalar read from an
    ``any`` reduction is False.
    """

    def __init__(self, device: str, round_to: int) -> None:
        super().__init__(device=device, round_to=round_to)
        self._any_results: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # by id: no tensor __eq__

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default and is_fake(args[0]):
            if self._any_results.get(id(args[0])) is args[0]:
                return False
            dtype = args[0].dtype
            return True if dtype == torch.bool else 1.0 if dtype.is_floating_point else 1
        out = super().__torch_dispatch__(func, types, args, kwargs)
        if func.overloadpacket is torch.ops.aten.any and is_fake(out):
            self._any_results[id(out)] = out
        return out


def _step_config(config: TrainConfig) -> TrainConfig:
    """Two steps of a one-batch epoch, quietly, without writing checkpoints, without touching this
    process's allocator (tensors are counted, not RSS), and alone (no process group)."""
    return dataclasses.replace(
        config,
        epochs=2,
        max_steps=2,
        verbose=False,
        checkpoint_dir=None,
        early_stopping=None,
        release_memory=False,
        shard=None,  # one rank's step; the sharding of its model state is arithmetic (_per_rank)
    )


def _fake_peak(model, sample_batch, config, loss_fn, device: torch.device, round_to: int) -> tuple[int, int, dict]:
    """(exact peak, peak with each storage rounded up to ``round_to`` bytes, breakdown at the exact peak)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    mode = FakeTensorMode(allow_non_fake_inputs=True)
    fake_model = _fake_model(model, mode)
    fake_batch = _rows_like(_as_tensors(sample_batch), config.effective_batch, mode)
    trainer = Trainer(fake_model, loss_fn, _step_config(config))
    trainer.device_override = device
    trainer.max_micro_steps = 2  # a third micro-step of equal rows allocates what the second did: same peak
    # Techniques go on outside fake mode: PEFT moves new adapters with Module.to, which cannot swap fake
    # parameters ("has weakref associated with it"); the small real adapters are then faked in place.
    trainer.apply_techniques()
    _fake_in_place(fake_model, mode)
    tracker = _FakeStepTracker(device.type, round_to)
    # torch logs a full traceback when an op has no fake kernel; that failure is caught and falls back
    with loggers_quieted("torch._subclasses.fake_tensor", level=logging.CRITICAL), mode, tracker:
        trainer.fit(fake_batch)
    return tracker.peak, tracker.rounded_peak, tracker.breakdown()


def _grown(batch: Any, rows: int) -> Any:
    """Real rows: the sample repeated (or cut) to exactly ``rows`` rows."""
    repeat = -(-rows // n_rows(batch))

    def grow(t):
        return t.repeat(repeat, *([1] * (t.dim() - 1)))[:rows] if isinstance(t, torch.Tensor) else t

    return type(batch)(grow(t) for t in batch) if isinstance(batch, (tuple, list)) else batch


def _measured_step(model, sample_batch, config, loss_fn) -> tuple[int, dict]:
    """The fallback, run in a child process: the same two steps for real, counted by track_peak."""
    from tightfit.measure.tracker import track_peak

    batch = _grown(_as_tensors(sample_batch), config.effective_batch)
    report = track_peak(lambda: Trainer(model, loss_fn, _step_config(config)).fit(batch))
    return report.peak, report.breakdown


def _calibration_run(model, sample_batch, config, loss_fn) -> tuple[int, int, int]:
    """In a fresh child: two real steps of ``config`` at two rows; (RSS after, lifetime peak RSS, tracked
    tensor peak of those steps) in bytes."""
    import psutil

    from tightfit.measure.memory import peak_rss
    from tightfit.measure.tracker import track_peak

    small = dataclasses.replace(config, micro_batch=2, accumulation=1)
    batch = _grown(_as_tensors(sample_batch), small.effective_batch)
    tensors = track_peak(lambda: Trainer(model, loss_fn, _step_config(small)).fit(batch)).peak
    return psutil.Process().memory_info().rss, peak_rss(), tensors


_CALIBRATION: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {(lora, precision): result}


def process_baseline(model: nn.Module, sample_batch: Any, config: TrainConfig, loss_fn=None) -> tuple[int, int]:
    """Measured non-tensor RSS of a training process for this model: (baseline bytes, startup peak bytes).

    A fresh child trains ``model`` for two steps at two rows; its RSS minus that run's tracked tensor peak
    is what the interpreter, libraries (PEFT included when LoRA is on), kernel caches and thread pools cost.
    Cached per model, LoRA on/off and precision, which are what change the libraries and kernels in play.
    """
    from tightfit.guard import run_limited

    cache = _CALIBRATION.setdefault(model, {})
    key = (config.lora is not None, config.precision)
    if key not in cache:
        rss, max_rss, small_peak = run_limited(_calibration_run, model, sample_batch, config, loss_fn, time="10min")
        cache[key] = (rss - small_peak, max_rss)
    return cache[key]


def estimate(
    model: nn.Module,
    sample_batch: Any,
    config: TrainConfig,
    loss_fn: Callable | None = None,
    device: str = "cuda",
    process: bool = True,
    world_size: int = 1,
    shard: str | None = None,
) -> Estimate:
    """Predict the peak memory of training ``model`` with ``config`` on ``device`` — per rank when
    ``world_size`` > 1 (or ``shard`` is given), with ``config.micro_batch`` rows per rank.

    Parameters
    ----------
    model : nn.Module
        Not modified: the estimate runs on a fake copy.
    sample_batch : (X, y) arrays or tensors
        Only shapes and dtypes matter; the estimate uses ``config.effective_batch`` rows whatever its length.
    config : TrainConfig
    loss_fn : callable, default=None
        ``None``: cross-entropy for integer targets, MSE otherwise (the engine's default).
    device : str, default="cuda"
        The device to plan for. On a machine whose torch has no CUDA, a CUDA estimate runs the fake step
        on the CPU and says so in ``note`` (kernel-specific buffers such as flash-attention or cuDNN
        workspaces are then not modelled).
    world_size : int, default=1
        Ranks of a data-parallel run (no devices needed): the step is modelled once, its model state
        replaced by a rank's share (:mod:`tightfit.plan.sharding`).
    shard : {None, "ddp", "fsdp"}, default=None
        ``None``: ``config.shard``, else DDP when ``world_size`` > 1. FSDP needs a CUDA ``device``.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))
    >>> batch = (torch.randn(8, 32), torch.randint(0, 4, (8,)))
    >>> est = estimate(model, batch, TrainConfig(micro_batch=16), device="cpu")
    >>> est.method, est.peak > 0
    ('fake', True)
    """
    check("estimate", model=(model, nn.Module), config=(config, TrainConfig), world_size=(world_size, Interval(int, 1)),
          shard=(shard, None, Options(*SHARDS)))  # fmt: skip
    target = torch.device(check_device(device, "estimate", allow_auto=False))
    shard = shard or config.shard or ("ddp" if world_size > 1 else None)
    if shard == "fsdp" and target.type != "cuda":
        from tightfit.train.distributed import FSDP_ON_CPU

        raise ConfigError(f"estimate(shard='fsdp', device={device!r}): {FSDP_ON_CPU}")
    started = time.perf_counter()
    on_cuda = target.type == "cuda"
    run_device, note = target, ""
    if on_cuda and not torch.cuda.is_available():
        run_device = torch.device("cpu")
        note = (
            "torch here has no CUDA: the step was modelled on the CPU (same shapes, CPU autocast); "
            "CUDA-only buffers such as flash-attention or cuDNN workspaces are not modelled"
        )
    if on_cuda and not torch.cuda.is_available() and config.precision == "fp16":
        config = dataclasses.replace(config, precision="bf16")  # same bytes; fp16 autocast needs CUDA
        note += "; fp16 modelled as bf16 (same sizes)"
    round_to = CUDA_BLOCK_BYTES if on_cuda else 1
    try:
        peak, rounded, breakdown = _fake_peak(model, sample_batch, config, loss_fn, run_device, round_to)
        method = "fake"
    except TightfitError:  # our own errors (ConfigError included) are the user's to see
        raise
    except Exception as exc:  # no fake kernel, data-dependent control flow, ...
        log.warning(
            "fake-tensor estimate failed (%s: %s); measuring a real step in a child process", type(exc).__name__, exc
        )
        from tightfit.guard import run_limited

        peak, breakdown = run_limited(_measured_step, model, sample_batch, config, loss_fn)
        rounded, method = peak, "measured"
        note = (note + "; " if note else "") + f"fake tensors failed ({type(exc).__name__}); measured on the CPU"
    allowances: dict[str, int] = {}
    if on_cuda:
        capability = torch.cuda.get_device_capability(target) if torch.cuda.is_available() else (0, 0)
        allowances["allocator_rounding"] = rounded - peak
        allowances["cublas_workspace"] = CUBLAS_WORKSPACE_BYTES_SM90 if capability >= (9, 0) else CUBLAS_WORKSPACE_BYTES
        allowances["cuda_context"] = CUDA_CONTEXT_BYTES
    elif process:
        baseline, startup = process_baseline(model, sample_batch, config, loss_fn)
        allowances["process_baseline"] = baseline
        allowances["allocator_slack"] = int(ALLOCATOR_SLACK * peak)
        allowances["startup_peak"] = startup
    result = Estimate(
        peak=peak,
        breakdown=breakdown,
        device=str(target),
        method=method,
        allowances=allowances,
        seconds_spent=time.perf_counter() - started,
        note=note,
    )
    result = result.released() if config.release_memory else result
    return result if shard is None else _per_rank(result, model, config, world_size, shard)


def _per_rank(est: Estimate, model: nn.Module, config: TrainConfig, world_size: int, shard: str) -> Estimate:
    """``est`` of one rank's step, changed to what a rank of ``shard`` over ``world_size`` holds: DDP adds its
    gradient-sized buffers; FSDP keeps 1/world_size of the parameters, gradients and optimizer state measured at
    the peak (the optimizer's temporaries work on the local shard too) and adds the gathered units."""
    from tightfit.plan.sharding import engine_recipe, largest_unit_params, sharded_states

    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if config.lora is not None:  # the adapters train, the base is frozen: the step's gradients say how many
        trainable = min(trainable, est.breakdown.get("grads", 0) // 4)
    states = sharded_states(total, trainable, largest_unit_params(model), world_size, shard, engine_recipe(config))
    breakdown = dict(est.breakdown)
    if shard == "fsdp":
        for key in ("params", "grads", "optimizer"):
            breakdown[key] = math.ceil(breakdown.get(key, 0) / world_size)
    breakdown |= {"gathered": states.gathered, "comm_buffers": states.buffers}
    note = f"per rank of {world_size} ({shard}): the step's model state {'split' if shard == 'fsdp' else 'kept'}"
    return dataclasses.replace(
        est,
        peak=est.peak + sum(breakdown.values()) - sum(est.breakdown.values()),
        breakdown=breakdown,
        note="; ".join(filter(None, [est.note, note])),
        world_size=world_size,
        shard=shard,
    )
