"""Resumable checkpoints: model, optimizer, scaler, RNG states and loop position, written atomically.

A crash mid-write leaves the previous checkpoint intact (temp file + rename). Loading checks the format
version. The file is our own pickle (RNG states are Python and NumPy objects), so it is loaded with
``weights_only=False``: load only checkpoints you wrote.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tightfit.errors import ConfigError
from tightfit.files import atomic_save

__all__ = ["FORMAT_VERSION", "checkpoint_path", "load_checkpoint", "rng_state", "save_checkpoint", "set_rng_state"]

FORMAT_VERSION = 1
_FILE = "checkpoint.pt"


def checkpoint_path(directory: str | Path) -> Path:
    return Path(directory) / _FILE


def rng_state() -> dict[str, Any]:
    """Every random number generator a training step may draw from."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(directory: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (plus the format version) to ``directory/checkpoint.pt`` atomically."""
    payload = {"format_version": FORMAT_VERSION, **state}
    return atomic_save(checkpoint_path(directory), lambda tmp: torch.save(payload, tmp))


def load_checkpoint(directory: str | Path) -> dict[str, Any] | None:
    """The checkpoint in ``directory``, or None when there is none yet."""
    path = checkpoint_path(directory)
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    version = state.get("format_version")
    if version != FORMAT_VERSION:
        raise ConfigError(
            f"{path} has checkpoint format version {version!r}; this tightfit loads version {FORMAT_VERSION}."
        )
    return state
