"""`size_of(model_or_path)`: bytes of a model's tensors in memory, or of a saved artefact on disk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tightfit.errors import bad_param

__all__ = ["size_of"]


def _tensors(obj: Any):
    import torch

    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from _tensors(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from _tensors(value)
    elif isinstance(obj, torch.ScriptObject):  # packed weights of quantized LSTM/GRU layers hold their tensors here
        try:
            state = obj.__getstate__()
        except (RuntimeError, AttributeError):
            return
        yield from _tensors(state)


def _tensor_bytes(tensors) -> int:
    """Sum of distinct storages, so tied weights and views count once."""
    seen: dict[int, int] = {}
    for tensor in tensors:
        try:
            storage = tensor.untyped_storage()
            seen[storage._cdata] = storage.nbytes()  # the storage itself, so fake tensors work too
        except (RuntimeError, NotImplementedError):  # quantized/packed layouts without a plain storage
            seen[id(tensor)] = tensor.element_size() * tensor.nelement()
    return sum(seen.values())


def size_of(obj: Any) -> int:
    """Bytes of ``obj``.

    - ``nn.Module``: parameters, buffers and any other tensors in its ``state_dict`` (packed int8
      weights of quantized layers included, those of recurrent ones inside their script objects), each
      storage counted once.
    - ``dict``/``list``/``tuple`` of tensors (a state dict): the same count over its tensors.
    - a path: the file's bytes, or the sum of the files below a folder.

    Examples
    --------
    >>> import torch
    >>> size_of(torch.nn.Linear(10, 4))  # (10*4 + 4) float32 values
    176
    """
    import torch

    if isinstance(obj, (str, os.PathLike)):
        path = Path(obj)
        if path.is_file():
            return path.stat().st_size
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        raise bad_param("obj", "size_of", "an nn.Module, a state dict or an existing path", str(obj))
    if isinstance(obj, torch.nn.Module):
        tensors = [*obj.parameters(), *obj.buffers(), *_tensors(obj.state_dict(keep_vars=True))]
        return _tensor_bytes(tensors)
    if isinstance(obj, (dict, list, tuple, torch.Tensor)):
        return _tensor_bytes(list(_tensors(obj)))
    raise bad_param("obj", "size_of", "an nn.Module, a state dict or an existing path", type(obj).__name__)
