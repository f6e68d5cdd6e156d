"""`TrainConfig` and `EarlyStop`: the technique settings of one training run, validated where typed.

A config is a frozen dataclass, so the planner can enumerate, hash and compare candidates; the engine
reads it and never changes it (an OOM back-off produces a new config with ``dataclasses.replace``).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tightfit.errors import ConfigError
from tightfit.params import Interval, Options, check
from tightfit.train.techniques.lora import LoraSpec

__all__ = ["OPTIMIZERS", "PRECISIONS", "SCHEDULES", "SHARDS", "EarlyStop", "TrainConfig"]

PRECISIONS = ("fp32", "bf16", "fp16")
OPTIMIZERS = ("adamw", "sgd", "adafactor", "adamw8bit")
SCHEDULES = ("constant", "cosine", "linear")
SHARDS = ("ddp", "fsdp")


class _ModuleNames:
    """A non-empty list of module names (activation checkpointing of named modules)."""

    def accepts(self, value: Any) -> bool:
        return (
            isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 0
            and all(isinstance(n, str) for n in value)
        )  # fmt: skip

    def __str__(self) -> str:
        return "a non-empty list of module names"


@dataclass(frozen=True)
class EarlyStop:
    """Stop when ``metric`` has not improved by ``min_delta`` for ``patience`` epochs; restore the best weights.

    ``metric``: ``"val_loss"``, ``"val_accuracy"`` (classification) or ``"train_loss"``. ``mode`` ``"auto"``
    minimises losses and maximises accuracy.
    """

    metric: str = "val_loss"
    patience: int = 3
    min_delta: float = 0.0
    mode: str = "auto"

    def __post_init__(self) -> None:
        check(
            "EarlyStop",
            metric=(self.metric, Options("val_loss", "val_accuracy", "train_loss")),
            patience=(self.patience, Interval(int, 1)),
            min_delta=(self.min_delta, Interval(float, 0)),
            mode=(self.mode, Options("auto", "min", "max")),
        )

    @property
    def maximize(self) -> bool:
        return self.mode == "max" or (self.mode == "auto" and self.metric.endswith("accuracy"))


@dataclass(frozen=True)
class TrainConfig:
    """How to train: precision, batching, memory techniques, optimizer, schedule and stopping rules.

    Parameters
    ----------
    precision : {"fp32", "bf16", "fp16"}, default="fp32"
        Autocast dtype of the forward pass; ``"fp16"`` needs CUDA and uses a GradScaler.
    micro_batch : int, default=32
        Rows per forward/backward; ``accumulation`` micro-batches make one optimizer step.
    accumulation : int, default=1
        Micro-batches per optimizer step: effective batch = ``micro_batch * accumulation``.
    checkpointing : bool or sequence of str, default=False
        Activation checkpointing of the repeated blocks (``True``) or of the named modules.
    lora : LoraSpec, dict or None, default=None
        LoRA adapters (PEFT) with the base weights frozen; ``None`` trains every parameter.
    shard : {None, "ddp", "fsdp"}, default=None
        Data parallelism over the ranks a launcher started (``torchrun``, ``accelerate launch``). ``None``
        trains with DDP when launched into more than one rank and alone otherwise; ``"ddp"`` insists on a
        process group; ``"fsdp"`` shards parameters, gradients and optimizer state (FSDP2, CUDA only).
        ``micro_batch`` is per rank: a global step holds ``micro_batch * accumulation * world_size`` rows.
    release_memory : bool, default=False
        CPU with glibc: freed tensors go back to the OS at once (a fixed mmap threshold), so the process's
        RSS follows its live tensors instead of drifting up with heap fragmentation: a lower, steady peak
        for page faults on large allocations (see ``techniques/allocator.py`` for the measured trade-off).
        Process-wide and permanent once training starts. The planner turns it on where a CPU memory budget
        needs it.
    optimizer : {"adamw", "sgd", "adafactor", "adamw8bit"}, default="adamw"
        ``"adafactor"`` keeps factored second moments (much less state); ``"adamw8bit"`` needs bitsandbytes.
    lr, weight_decay, momentum : float
        Peak learning rate; decoupled weight decay; momentum of ``"sgd"``.
    schedule : {"constant", "cosine", "linear"}, default="cosine"
        Decay after warm-up, per optimizer step.
    warmup : float or int, default=0.0
        Linear warm-up: a fraction of all steps when < 1, else a number of steps.
    clip_norm : float or None, default=1.0
        Clip the global gradient norm; ``None`` turns clipping off.
    epochs : int, default=10
    max_steps : int or None, default=None
        Stop after this many optimizer steps (short trial runs of the planner).
    early_stopping : EarlyStop or None, default=None
    max_bad_steps : int, default=5
        Consecutive non-finite losses tolerated (each skips the step and halves the LR) before giving up.
    checkpoint_dir : str or None, default=None
        Where to write resumable checkpoints; ``checkpoint_every`` steps apart and at the end.
    seed : int, default=0
    verbose : bool, default=True
        Progress bar with rate, ETA and loss; ``False`` silences it.
    """

    precision: str = "fp32"
    micro_batch: int = 32  # rows per forward; accumulation restores the effective batch
    accumulation: int = 1  # micro-batches per optimizer step
    checkpointing: bool | tuple[str, ...] = False
    lora: LoraSpec | None = None
    shard: str | None = None
    release_memory: bool = False
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.01
    momentum: float = 0.9  # sgd only
    schedule: str = "cosine"
    warmup: float = 0.0  # fraction of steps (< 1) or a number of steps (>= 1)
    clip_norm: float | None = 1.0
    epochs: int = 10
    max_steps: int | None = None
    early_stopping: EarlyStop | None = None
    max_bad_steps: int = 5
    checkpoint_dir: str | None = None
    checkpoint_every: int = 100  # optimizer steps between checkpoints
    seed: int = 0
    verbose: bool = True
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # free-form notes for run.json

    def __post_init__(self) -> None:
        check(
            "TrainConfig",
            precision=(self.precision, Options(*PRECISIONS)),
            micro_batch=(self.micro_batch, Interval(int, 1)),
            accumulation=(self.accumulation, Interval(int, 1)),
            checkpointing=(self.checkpointing, bool, _ModuleNames()),
            shard=(self.shard, None, Options(*SHARDS)),
            release_memory=(self.release_memory, bool),
            optimizer=(self.optimizer, Options(*OPTIMIZERS)),
            lr=(self.lr, Interval(float, 0, closed="right", what="a positive number")),
            weight_decay=(self.weight_decay, Interval(float, 0)),
            momentum=(self.momentum, Interval(float, 0, 1, closed="left")),
            schedule=(self.schedule, Options(*SCHEDULES)),
            warmup=(self.warmup, Interval(float, 0, what="a fraction in [0, 1) or a number of steps")),
            clip_norm=(self.clip_norm, None, Interval(float, 0, closed="right", what="a positive number")),
            epochs=(self.epochs, Interval(int, 1)),
            max_steps=(self.max_steps, None, Interval(int, 1)),
            early_stopping=(self.early_stopping, None, EarlyStop),
            max_bad_steps=(self.max_bad_steps, Interval(int, 1)),
            checkpoint_every=(self.checkpoint_every, Interval(int, 1)),
            seed=(self.seed, Interval(int, 0)),
            verbose=(self.verbose, bool),
        )
        if not isinstance(self.checkpointing, bool):
            object.__setattr__(self, "checkpointing", tuple(self.checkpointing))
        object.__setattr__(self, "lora", LoraSpec.coerce(self.lora))
        if self.optimizer == "adamw8bit" and importlib.util.find_spec("bitsandbytes") is None:
            raise ConfigError(
                "The 'optimizer' parameter of TrainConfig is 'adamw8bit', which needs bitsandbytes "
                "(pip install bitsandbytes); it is not installed. Use optimizer='adafactor' for low-memory "
                "optimizer state without it."
            )

    @property
    def effective_batch(self) -> int:
        """Rows per optimizer step."""
        return self.micro_batch * self.accumulation

    def to_dict(self) -> dict[str, Any]:
        """Plain values for ``run.json``; ``TrainConfig.from_dict`` reads them back."""
        data = dataclasses.asdict(self)
        data.pop("extra")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        data = dict(data)
        if data.get("early_stopping") is not None:
            data["early_stopping"] = EarlyStop(**data["early_stopping"])
        if isinstance(data.get("checkpointing"), list):
            data["checkpointing"] = tuple(data["checkpointing"])
        return cls(**data)
