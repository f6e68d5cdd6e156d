"""Quantization and casting of torch modules, behind one function each so API churn stays here.

``dynamic_int8`` stores Linear, LSTM and GRU weights as int8 and quantizes activations on the fly (per-row
scales at run time). It uses ``torch.ao.quantization.quantize_dynamic`` of the installed torch, which runs int8
CPU kernels (x86/fbgemm/onednn/qnnpack) without an extra dependency; should that API move (torchao), only this module
changes. Layers it cannot convert are listed with the reason, not a crash.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import torch
from torch import nn

__all__ = ["cast", "dynamic_int8", "quantized_engine"]

_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Embedding, nn.EmbeddingBag, nn.MultiheadAttention, nn.RNN)
_CONVERTED = (nn.Linear, nn.LSTM, nn.GRU)  # exact types: a subclass may override forward, which a swap would lose


def quantized_engine() -> str | None:
    """The quantized CPU kernel backend this torch build has (``x86``/``fbgemm`` on x86, ``qnnpack`` on ARM)."""
    supported = torch.backends.quantized.supported_engines
    for engine in ("x86", "fbgemm", "onednn", "qnnpack"):
        if engine in supported:
            return engine
    return None


def dynamic_int8(model: nn.Module, per_channel: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """A copy of ``model`` with int8 dynamic Linear, LSTM and GRU layers, and what was converted and skipped
    (with reasons).

    ``per_channel`` gives each output row its own weight scale: on all-MiniLM-L6-v2 mean cosine to fp32 rose
    from 0.949 (per-tensor) to 0.976 on 64 real sentences, at the same size.

    ``nn.TransformerEncoder`` and its layers take a fused fast path in eval mode that reads the Linear weights as
    tensors, which a quantized Linear no longer has; the copy's transformer modules run their ordinary path
    instead (listed in ``fast_path_off``). That path leaves padded positions unzeroed where the nested-tensor one
    zeroed them, which the variant's measured fidelity then shows.
    """
    engine = quantized_engine()
    if engine is None:
        raise RuntimeError(
            f"this torch build has no quantized CPU engine ({torch.backends.quantized.supported_engines})"
        )
    torch.backends.quantized.engine = engine
    converted = [name for name, m in model.named_modules() if type(m) in _CONVERTED and name]
    skipped = {
        name: f"{type(m).__name__}: dynamic int8 covers Linear, LSTM and GRU layers only"
        for name, m in model.named_modules()
        if isinstance(m, _WEIGHTED) or (isinstance(m, _CONVERTED) and type(m) not in _CONVERTED)
    }
    from torch.ao import quantization

    qconfig = quantization.per_channel_dynamic_qconfig if per_channel else quantization.default_dynamic_qconfig
    with warnings.catch_warnings():  # torch marks its quantized tensor types deprecated; this module absorbs it
        warnings.simplefilter("ignore")
        quantized = quantization.quantize_dynamic(
            copy.deepcopy(model).cpu().eval(), dict.fromkeys(converted, qconfig), dtype=torch.qint8
        )
    fast_path_off = [name for name, m in quantized.named_modules() if _ordinary_path(m)]
    info = {
        "engine": engine,
        "per_channel": per_channel,
        "quantized_layers": len(converted),
        "skipped": skipped,
        "fast_path_off": fast_path_off,
    }
    return quantized, info


def _ordinary_path(module: nn.Module) -> bool:
    """Turn off a transformer module's fused fast path (its own switches, as its constructor sets them) where it
    would read a quantized Linear's weight; whether it was turned off."""
    if isinstance(module, nn.TransformerEncoderLayer) and not isinstance(module.linear1.weight, torch.Tensor):
        module.activation_relu_or_gelu = 0
        return True
    quantized_encoder = isinstance(module, nn.TransformerEncoder) and module.use_nested_tensor
    if quantized_encoder and not isinstance(module.layers[0].linear1.weight, torch.Tensor):
        module.use_nested_tensor = False
        return True
    return False


def cast(model: nn.Module, dtype: torch.dtype, device: str = "cpu") -> nn.Module:
    """A copy of ``model`` in ``dtype`` on ``device`` whose calls take and return float32 CPU tensors (inputs
    cast and moved on the way in, outputs brought back): fp16 serving on CUDA is measured beside the CPU
    original this way."""
    return _Cast(copy.deepcopy(model).to(device=device, dtype=dtype).eval(), dtype, device)


class _Cast(nn.Module):
    def __init__(self, inner: nn.Module, dtype: torch.dtype, device: str = "cpu") -> None:
        super().__init__()
        self.inner = inner
        self.dtype = dtype
        self.device = device

    def forward(self, *inputs: Any) -> Any:
        cast_in = [
            x.to(device=self.device, dtype=self.dtype) if torch.is_tensor(x) and x.is_floating_point()
            else x.to(self.device) if torch.is_tensor(x) else x
            for x in inputs
        ]  # fmt: skip
        return _to_float32(self.inner(*cast_in))


def _to_float32(output: Any) -> Any:
    if torch.is_tensor(output):  # float32 on the CPU, where the original's outputs are compared
        return (output.float() if output.is_floating_point() else output).cpu()
    if isinstance(output, (tuple, list)):
        return type(output)(_to_float32(o) for o in output)
    if isinstance(output, dict):
        return {k: _to_float32(v) for k, v in output.items()}
    return output
