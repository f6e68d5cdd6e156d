"""The training engine: ``Trainer`` applies a ``TrainConfig``'s techniques to any ``nn.Module``.

>>> from tightfit.train import Trainer, TrainConfig, LoraSpec, EarlyStop
"""

from tightfit.train.config import OPTIMIZERS, PRECISIONS, SCHEDULES, EarlyStop, TrainConfig
from tightfit.train.engine import Trainer, default_loss
from tightfit.train.result import TrainResult
from tightfit.train.techniques import LoraSpec, apply_checkpointing_, apply_lora_

__all__ = [
    "OPTIMIZERS",
    "PRECISIONS",
    "SCHEDULES",
    "EarlyStop",
    "LoraSpec",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "apply_checkpointing_",
    "apply_lora_",
    "default_loss",
]
