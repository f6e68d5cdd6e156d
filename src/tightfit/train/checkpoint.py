"""Resumable checkpoints: model, optimizer, scaler, RNG states and loop position, written atomically.

A crash mid-write leaves the previous checkpoint intact (temp file + rename). Loading checks the format
version. Everything in it is tensors, numbers, strings, lists and dicts (NumPy's RNG key is stored as a tensor),
so it loads with ``torch.load(weights_only=True)``: a checkpoint cannot run code when it is read. A truncated
or foreign file is a ``DataError`` naming it.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tightfit.errors import ConfigError, DataError
from tightfit.files import atomic_save

__all__ = ["FORMAT_VERSION", "checkpoint_path", "load_checkpoint", "rng_state", "save_checkpoint", "set_rng_state"]

FORMAT_VERSION = 1
_FILE = "checkpoint.pt"


def checkpoint_path(directory: str | Path) -> Path:
    return Path(directory) / _FILE


def rng_state() -> dict[str, Any]:
    """Every random number generator a training step may draw from, as tensors and plain values."""
    name, key, position, has_gauss, cached = np.random.get_state()
    numpy_state = [name, torch.from_numpy(key.astype(np.int64)), int(position), int(has_gauss), float(cached)]
    state = {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": list(random.getstate())}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, key, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(key, dtype=np.int64).astype(np.uint32), position, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
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
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError) as exc:
        raise DataError(f"{path} is not a readable tightfit checkpoint ({str(exc).splitlines()[0]}).") from None
    version = state.get("format_version") if isinstance(state, dict) else None
    if version != FORMAT_VERSION:
        raise ConfigError(
            f"{path} has checkpoint format version {version!r}; this tightfit loads version {FORMAT_VERSION}."
        )
    return state
