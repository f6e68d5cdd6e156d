"""Activation checkpointing: recompute each repeated block's activations in backward instead of storing them.

``apply_checkpointing_`` wraps the ``forward`` of each block with ``torch.utils.checkpoint.checkpoint``
(non-reentrant). The block stays where it was, so state-dict keys do not change and checkpoints load
either way. Blocks are found automatically — the children of the ``nn.ModuleList``/``nn.Sequential`` that
holds the most parameters in two or more modules of one class (transformer layers, residual blocks) —
or named explicitly.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from tightfit.errors import ConfigError

__all__ = ["CheckpointApplied", "apply_checkpointing_", "find_repeated_blocks", "remove_checkpointing_"]

_ORIGINAL = "_tightfit_original_forward"


@dataclass(frozen=True)
class CheckpointApplied:
    """The blocks whose forward is now checkpointed."""

    blocks: tuple[str, ...]


def _param_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def find_repeated_blocks(model: nn.Module) -> list[str]:
    """Names of the repeated blocks: the same-class children of the container holding the most parameters."""
    best: tuple[int, list[str]] = (0, [])
    for name, container in model.named_modules():
        if not isinstance(container, (nn.ModuleList, nn.Sequential)):
            continue
        by_class: dict[type, list[str]] = {}
        for child_name, child in container.named_children():
            if _param_count(child) > 0:
                by_class.setdefault(type(child), []).append(child_name)
        for children in by_class.values():
            if len(children) < 2:
                continue
            n_params = sum(_param_count(container.get_submodule(c)) for c in children)
            if n_params > best[0]:
                best = (n_params, [f"{name}.{c}" if name else c for c in children])
    return best[1]


def _checkpointed_forward(original, *args, **kwargs):
    if not torch.is_grad_enabled():  # inference and no_grad evaluation: nothing to save, nothing to recompute
        return original(*args, **kwargs)
    return checkpoint(original, *args, use_reentrant=False, **kwargs)


def apply_checkpointing_(model: nn.Module, blocks: Sequence[str] | None = None) -> CheckpointApplied:
    """Checkpoint ``blocks`` (module names) of ``model`` in place, or the repeated blocks when ``None``.

    Raises ``ConfigError`` when no repeated block is found or a name does not exist.
    """
    names = list(blocks) if blocks is not None else find_repeated_blocks(model)
    if not names:
        raise ConfigError(
            f"checkpointing found no repeated blocks in {type(model).__name__} (no nn.ModuleList/nn.Sequential "
            "with two or more parameterised children of one class); name the blocks: checkpointing=['layers.0', ...]."
        )
    existing = dict(model.named_modules())
    missing = [n for n in names if n not in existing]
    if missing:
        raise ConfigError(
            f"checkpointing names {missing!r}, which are not modules of {type(model).__name__}; "
            f"top-level modules are: {', '.join(repr(n) for n, _ in model.named_children())}."
        )
    for name in names:
        block = existing[name]
        if _ORIGINAL in block.__dict__:
            continue
        original = block.forward
        setattr(block, _ORIGINAL, original)
        block.forward = functools.partial(_checkpointed_forward, original)
    return CheckpointApplied(blocks=tuple(names))


def remove_checkpointing_(model: nn.Module) -> None:
    """Undo :func:`apply_checkpointing_`: every block gets its own forward back."""
    for module in model.modules():
        original = module.__dict__.pop(_ORIGINAL, None)
        if original is not None:
            del module.forward
