"""Optimizers and the learning-rate schedule, plus the bytes an optimizer keeps as state.

The schedule is a plain function of the step (linear warm-up, then constant, cosine or linear decay)
multiplied by a damping factor that the NaN guard lowers; the engine writes the result into every
param group before each step, so nothing here hides state that a checkpoint would miss.
"""

from __future__ import annotations

import math

import torch

from tightfit.train.config import TrainConfig

__all__ = ["build_optimizer", "lr_at", "optimizer_state_bytes", "warmup_steps"]


def build_optimizer(params: list[torch.nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer named by ``config.optimizer`` over ``params`` (only those that require grad)."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if config.optimizer == "adafactor":
        return torch.optim.Adafactor(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw8bit":
        import bitsandbytes as bnb

        return bnb.optim.AdamW8bit(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


def warmup_steps(config: TrainConfig, total_steps: int) -> int:
    return int(config.warmup * total_steps) if config.warmup < 1 else int(config.warmup)


def lr_at(step: int, config: TrainConfig, total_steps: int) -> float:
    """Learning rate for optimizer step ``step`` (0-based) of ``total_steps``.

    Examples
    --------
    >>> cfg = TrainConfig(lr=1.0, warmup=2, schedule="linear")
    >>> [round(lr_at(s, cfg, 6), 2) for s in range(6)]
    [0.5, 1.0, 1.0, 0.75, 0.5, 0.25]
    """
    warm = warmup_steps(config, total_steps)
    if step < warm:
        return config.lr * (step + 1) / warm
    if config.schedule == "constant":
        return config.lr
    progress = (step - warm) / max(1, total_steps - warm)
    if config.schedule == "linear":
        return config.lr * max(0.0, 1.0 - progress)
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of the tensors the optimizer keeps between steps (moments, momentum buffers, step counts)."""
    seen: dict[int, int] = {}
    for state in optimizer.state.values():
        for value in state.values():
            if isinstance(value, torch.Tensor):
                storage = value.untyped_storage()  # keyed by the storage itself: works for fake tensors too
                seen[storage._cdata] = storage.nbytes()
    return sum(seen.values())
