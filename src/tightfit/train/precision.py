"""Mixed precision as one object: an autocast context and a gradient scaler, both no-ops for fp32.

bf16 autocast runs on CPU and CUDA and needs no scaler (same exponent range as fp32). fp16 runs on CUDA
only, with a ``GradScaler`` against underflowing gradients; asking for it on the CPU is a ``ConfigError``.
"""

from __future__ import annotations

import contextlib

import torch

from tightfit.errors import ConfigError

__all__ = ["Precision"]

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """``with precision.autocast(): ...``; ``precision.scaler`` is a GradScaler, disabled unless fp16."""

    def __init__(self, name: str, device: torch.device) -> None:
        if name == "fp16" and device.type != "cuda":
            raise ConfigError(
                f"The 'precision' parameter of TrainConfig is 'fp16', which needs a CUDA device; this run is on "
                f"{device.type!r}. Use precision='bf16' (same memory saving, no loss scaling needed) or 'fp32'."
            )
        self.name = name
        self.device = device
        self.dtype = _DTYPES[name]
        self.scaler = torch.amp.GradScaler(device.type, enabled=name == "fp16")

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.name == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)
