"""`TuningParams`: TabTune's ``tuning_params`` keys, validated where typed, each mapped to an engine setting.

Every key TabTune documents is accepted, and every one acts (:meth:`TuningParams.train_config` and the
episode sampler read them); an unknown key is a ``ConfigError`` with the closest known one. The mapping:

==============================  =====================================================================
key                             what it sets
==============================  =====================================================================
device                          the training/inference device (``Budget.device``)
epochs, learning_rate           ``TrainConfig.epochs``, ``lr`` (default 1e-4, 1e-3 with LoRA)
batch_size                      episodes per forward pass (``TrainConfig.micro_batch``)
gradient_accumulation_steps     forward passes per optimizer step (``accumulation``)
support_size, query_size        context rows and query rows of each episode
n_episodes / steps_per_epoch    episodes per epoch / optimizer steps per epoch (give one)
weight_decay, warmup_steps      ``weight_decay``; ``warmup`` in optimizer steps
scheduler                       ``schedule`` (``"none"`` is ``"constant"``)
mixed_precision                 ``precision`` (``"no"``/``"fp32"``, ``"bf16"``, ``"fp16"`` on CUDA only)
gradient_checkpoint             activation checkpointing of the model's blocks
num_workers, pin_memory         a ``DataLoader`` over the episodes
early_stopping(_patience)       ``EarlyStop("val_loss", patience)`` on held-out episodes
gradient_clip_norm              ``clip_norm`` (``None`` turns clipping off)
seed                            ``seed`` (episodes, initialisation, order)
save_checkpoint_path            resumable engine checkpoints, and the tuned weights at the end
show_progress                   the progress bar (``verbose``)
peft_config                     LoRA settings (``r``, ``lora_alpha``, ``lora_dropout``, ``target_modules``)
finetune_mode                   ``"meta-learning"``: random episodes with labels permuted per episode;
                                ``"sft"``: each epoch partitions the training rows into episodes with
                                fixed labels, so every row is a query once per epoch
==============================  =====================================================================
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from tightfit.errors import ConfigError, bad_param, unknown_key
from tightfit.params import Interval, Options, check, check_device
from tightfit.train.config import SCHEDULES, EarlyStop, TrainConfig
from tightfit.train.techniques.lora import LoraSpec

__all__ = ["FINETUNE_MODES", "TuningParams"]

FINETUNE_MODES = ("meta-learning", "sft")
_PRECISION_ALIASES = {"no": "fp32", "none": "fp32", "fp32": "fp32", "bf16": "bf16", "fp16": "fp16", None: "fp32"}
_PRECISION_ALIASES.update({True: "bf16", False: "fp32"})


@dataclass(frozen=True)
class TuningParams:
    """Fine-tuning settings with TabTune's names; see the module docstring for what each one sets."""

    device: str = "auto"
    epochs: int = 5
    learning_rate: float | None = None  # None: 1e-4 for full fine-tuning, 1e-3 for LoRA
    batch_size: int = 4
    support_size: int = 256
    query_size: int = 128
    n_episodes: int | None = None
    steps_per_epoch: int | None = None
    weight_decay: float = 0.0
    warmup_steps: int = 0
    scheduler: str = "cosine"
    mixed_precision: str = "fp32"
    gradient_checkpoint: bool = False
    gradient_accumulation_steps: int = 1
    num_workers: int = 0
    pin_memory: bool = False
    early_stopping: bool = True
    early_stopping_patience: int = 2
    gradient_clip_norm: float | None = 1.0
    seed: int = 0
    save_checkpoint_path: str | None = None
    show_progress: bool = True
    peft_config: LoraSpec | None = None
    finetune_mode: str = "meta-learning"

    def __post_init__(self) -> None:
        at_least_1, positive = Interval(int, 1), Interval(float, 0, closed="right", what="a positive number")
        ints = ("epochs", "batch_size", "support_size", "query_size", "gradient_accumulation_steps")
        check("tuning_params", **{name: (getattr(self, name), at_least_1) for name in ints})
        check("tuning_params", **{n: (getattr(self, n), None, at_least_1) for n in ("n_episodes", "steps_per_epoch")})
        if self.n_episodes is not None and self.steps_per_epoch is not None:
            raise ConfigError(
                f"tuning_params sets both n_episodes={self.n_episodes} and steps_per_epoch={self.steps_per_epoch}; "
                "give one (n_episodes = steps_per_epoch * batch_size * gradient_accumulation_steps)."
            )
        flags = ("gradient_checkpoint", "pin_memory", "early_stopping", "show_progress")
        check(
            "tuning_params",
            learning_rate=(self.learning_rate, None, positive),
            weight_decay=(self.weight_decay, Interval(float, 0)),
            warmup_steps=(self.warmup_steps, Interval(int, 0)),
            scheduler=(self.scheduler, None, Options("none", *SCHEDULES)),
            num_workers=(self.num_workers, Interval(int, 0)),
            early_stopping_patience=(self.early_stopping_patience, at_least_1),
            gradient_clip_norm=(self.gradient_clip_norm, None, positive),
            seed=(self.seed, Interval(int, 0)),
            save_checkpoint_path=(self.save_checkpoint_path, None, str),
            finetune_mode=(self.finetune_mode, Options(*FINETUNE_MODES)),
            **{name: (getattr(self, name), bool) for name in flags},
        )
        check_device(self.device, "tuning_params")
        object.__setattr__(self, "scheduler", "constant" if self.scheduler in (None, "none") else self.scheduler)
        hashable = isinstance(self.mixed_precision, (str, bool, type(None)))
        precision = _PRECISION_ALIASES.get(self.mixed_precision) if hashable else None
        if precision is None:
            raise bad_param("mixed_precision", "tuning_params", ["no", "fp32", "bf16", "fp16"], self.mixed_precision)
        object.__setattr__(self, "mixed_precision", precision)
        if precision == "fp16" and not self.device.startswith("cuda"):
            _fp16_needs_cuda(self.device)
        try:
            object.__setattr__(self, "peft_config", LoraSpec.coerce(self.peft_config))
        except ConfigError as exc:
            raise ConfigError(f"tuning_params['peft_config']: {exc}") from None

    @classmethod
    def from_dict(cls, params: dict[str, Any] | None) -> TuningParams:
        """Build from a ``tuning_params`` dict; an unknown key raises with a "did you mean" suggestion."""
        if params is None:
            return cls()
        if not isinstance(params, dict):
            raise bad_param("tuning_params", "TabularPipeline", "None or a dict", type(params).__name__)
        known = {f.name for f in dataclasses.fields(cls)}
        for key in params:
            if key not in known:
                raise unknown_key(key, "tuning_params", known)
        return cls(**params)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["peft_config"] = None if self.peft_config is None else dataclasses.asdict(self.peft_config)
        return data

    @property
    def episodes_per_epoch(self) -> int:
        """``n_episodes``, or ``steps_per_epoch`` optimizer steps' worth; 10 steps when neither is given."""
        per_step = self.batch_size * self.gradient_accumulation_steps
        if self.n_episodes is not None:
            return self.n_episodes
        return (self.steps_per_epoch or 10) * per_step

    def train_config(self, lora: bool) -> TrainConfig:
        """The engine's config: LoRA from ``peft_config`` (defaults when absent) when ``lora`` is true."""
        spec = (self.peft_config or LoraSpec()) if lora else None
        return TrainConfig(
            precision=self.mixed_precision,
            micro_batch=self.batch_size,
            accumulation=self.gradient_accumulation_steps,
            checkpointing=self.gradient_checkpoint,
            lora=spec,
            lr=self.learning_rate or (1e-3 if lora else 1e-4),
            weight_decay=self.weight_decay,
            schedule=self.scheduler,
            warmup=self.warmup_steps,
            clip_norm=self.gradient_clip_norm,
            epochs=self.epochs,
            early_stopping=EarlyStop("val_loss", patience=self.early_stopping_patience)
            if self.early_stopping
            else None,
            checkpoint_dir=self.save_checkpoint_path,
            seed=self.seed,
            verbose=self.show_progress,
        )


def _fp16_needs_cuda(device: str) -> None:
    if device == "auto":
        import torch

        if torch.cuda.is_available():
            return
    raise ConfigError(
        f"tuning_params sets mixed_precision='fp16' with device={device!r}, and fp16 training needs CUDA"
        + (" (torch sees none)" if device == "auto" else "")
        + ". Use mixed_precision='bf16' (same memory saving on the CPU, no loss scaling) or 'no'."
    )
