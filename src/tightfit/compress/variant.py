"""`Variant`: one compressed form of a model — a callable with the model's positional inputs, plus what it is.

A variant wraps either a torch module (eager, int8 dynamic, pruned, distilled, cast) or an ONNX Runtime
session. Calling it never needs gradients; ONNX variants take tensors or arrays and return numpy arrays.
Measured figures (size, latency per batch size, quality) are filled in by :func:`tightfit.compress.compress`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

__all__ = ["Variant"]


@dataclasses.dataclass
class Variant:
    """A model variant and its measured figures.

    ``runner`` is the callable; ``module`` the torch module behind it (None for ONNX), ``onnx_bytes`` the
    serialised ONNX graph (None for torch). ``latency`` maps batch size to a ``LatencyReport`` dict.
    """

    name: str
    technique: str
    runner: Any = dataclasses.field(repr=False)
    module: Any = dataclasses.field(default=None, repr=False)
    onnx_bytes: bytes | None = dataclasses.field(default=None, repr=False)
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    example_inputs: tuple[Any, ...] | None = dataclasses.field(default=None, repr=False)
    size_bytes: int = 0
    latency: dict[int, dict[str, float]] = dataclasses.field(default_factory=dict)
    quality: float | None = None
    verdict: str = ""
    reason: str = ""

    def __call__(self, *inputs: Any) -> Any:
        import torch

        with torch.inference_mode():
            return self.runner(*inputs)

    def p50(self, batch: int) -> float | None:
        return self.latency.get(batch, {}).get("p50_s")

    def save(self, path: Any, example_inputs: Any = None) -> Path:
        """Write the artefact and its JSON sidecar (see :func:`tightfit.compress.export`)."""
        from tightfit.compress.export import export

        return export(self, path, example_inputs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "technique": self.technique,
            "details": self.details,
            "size_bytes": self.size_bytes,
            "latency": {str(k): v for k, v in self.latency.items()},
            "quality": self.quality,
            "verdict": self.verdict,
            "reason": self.reason,
        }
