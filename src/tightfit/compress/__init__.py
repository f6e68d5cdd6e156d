"""Serve small and fast: quantize, prune, distill and export a trained model, each variant measured.

``compress(model, example_inputs, eval_fn=..., budget=Budget(latency="15ms", size="30MB"))`` builds the
variants, measures size, latency and quality side by side on this machine and returns a
:class:`CompressReport` whose ``best`` is the fastest variant that keeps quality and meets the limits.
The building blocks are public too: ``dynamic_int8``, ``structured_prune``, ``magnitude_prune``, ``distill``,
``export_onnx``, ``export``/``load_exported``.
"""

from tightfit.compress.distill import distill, distillation_loss
from tightfit.compress.export import export, load_exported
from tightfit.compress.onnx import OnnxExportError, OnnxRunner, export_onnx, quantize_onnx_dynamic, quantize_onnx_static
from tightfit.compress.prune import magnitude_prune, structured_prune
from tightfit.compress.quantize import cast, dynamic_int8
from tightfit.compress.search import TECHNIQUES, CompressReport, compress, output_fidelity
from tightfit.compress.variant import Variant

__all__ = [
    "TECHNIQUES",
    "CompressReport",
    "OnnxExportError",
    "OnnxRunner",
    "Variant",
    "cast",
    "compress",
    "distill",
    "distillation_loss",
    "dynamic_int8",
    "export",
    "export_onnx",
    "load_exported",
    "magnitude_prune",
    "output_fidelity",
    "quantize_onnx_dynamic",
    "quantize_onnx_static",
    "structured_prune",
]
