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

from tightfit.errors import ConfigError, bad_param
from tightfit.train.techniques.lora import LoraSpec

__all__ = ["OPTIMIZERS", "PRECISIONS", "SCHEDULES", "EarlyStop", "TrainConfig"]

PRECISIONS = ("fp32", "bf16", "fp16")
OPTIMIZERS = ("adamw", "sgd", "adafactor", "adamw8bit")
SCHEDULES = ("constant", "cosine", "linear")


def _is_int(value: Any, low: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value >= low


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


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
        if self.metric not in ("val_loss", "val_accuracy", "train_loss"):
            raise bad_param("metric", "EarlyStop", ["val_loss", "val_accuracy", "train_loss"], self.metric)
        if not _is_int(self.patience, 1):
            raise bad_param("patience", "EarlyStop", "an int >= 1", self.patience)
        if not _is_number(self.min_delta) or self.min_delta < 0:
            raise bad_param("min_delta", "EarlyStop", "a number >= 0", self.min_delta)
        if self.mode not in ("auto", "min", "max"):
            raise bad_param("mode", "EarlyStop", ["auto", "max", "min"], self.mode)

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
        check = self._check
        check("precision", self.precision in PRECISIONS, PRECISIONS)
        check("micro_batch", _is_int(self.micro_batch, 1), "an int >= 1")
        check("accumulation", _is_int(self.accumulation, 1), "an int >= 1")
        if not isinstance(self.checkpointing, bool):
            ok = isinstance(self.checkpointing, Sequence) and not isinstance(self.checkpointing, str)
            ok = ok and len(self.checkpointing) > 0 and all(isinstance(n, str) for n in self.checkpointing)
            check("checkpointing", ok, "True, False or a non-empty list of module names")
            object.__setattr__(self, "checkpointing", tuple(self.checkpointing))
        object.__setattr__(self, "lora", LoraSpec.coerce(self.lora))
        check("release_memory", isinstance(self.release_memory, bool), "True or False")
        check("optimizer", self.optimizer in OPTIMIZERS, OPTIMIZERS)
        if self.optimizer == "adamw8bit" and importlib.util.find_spec("bitsandbytes") is None:
            raise ConfigError(
                "The 'optimizer' parameter of TrainConfig is 'adamw8bit', which needs bitsandbytes "
                "(pip install bitsandbytes); it is not installed. Use optimizer='adafactor' for low-memory "
                "optimizer state without it."
            )
        check("lr", _is_number(self.lr) and self.lr > 0, "a positive number")
        check("weight_decay", _is_number(self.weight_decay) and self.weight_decay >= 0, "a number >= 0")
        check("momentum", _is_number(self.momentum) and 0 <= self.momentum < 1, "a number in [0, 1)")
        check("schedule", self.schedule in SCHEDULES, SCHEDULES)
        check("warmup", _is_number(self.warmup) and self.warmup >= 0, "a fraction in [0, 1) or a number of steps")
        check(
            "clip_norm",
            self.clip_norm is None or (_is_number(self.clip_norm) and self.clip_norm > 0),
            "None or a positive number",
        )
        check("epochs", _is_int(self.epochs, 1), "an int >= 1")
        check("max_steps", self.max_steps is None or _is_int(self.max_steps, 1), "None or an int >= 1")
        check(
            "early_stopping",
            self.early_stopping is None or isinstance(self.early_stopping, EarlyStop),
            "None or an EarlyStop",
        )
        check("max_bad_steps", _is_int(self.max_bad_steps, 1), "an int >= 1")
        check("checkpoint_every", _is_int(self.checkpoint_every, 1), "an int >= 1")
        check("seed", _is_int(self.seed, 0), "an int >= 0")
        check("verbose", isinstance(self.verbose, bool), "True or False")

    def _check(self, name: str, ok: bool, allowed) -> None:
        if not ok:
            raise bad_param(name, "TrainConfig", allowed, getattr(self, name))

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
