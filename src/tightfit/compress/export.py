"""Write a variant as a deployable artefact with a JSON sidecar, and load it back checked.

ONNX variants are written as the ``.onnx`` graph; torch variants as TorchScript (``torch.jit.trace`` on the
example inputs) when tracing works, else as the pickled module (``torch.save``). The sidecar
``<artefact>.json`` records the format version, technique, tightfit version, input signature, the measured
figures and the artefact's SHA-256; :func:`load_exported` refuses a file whose hash or version disagrees.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from tightfit.errors import ConfigError, DataError
from tightfit.files import atomic_save, atomic_write_bytes, atomic_write_text

__all__ = ["EXPORT_FORMAT_VERSION", "export", "load_exported"]

EXPORT_FORMAT_VERSION = 1


def _signature(example_inputs: Any) -> list[dict[str, Any]]:
    if torch.is_tensor(example_inputs):
        example_inputs = (example_inputs,)
    return [
        {"name": f"input_{i}", "dtype": str(x.dtype).removeprefix("torch."), "shape": ["batch", *x.shape[1:]]}
        for i, x in enumerate(example_inputs or ())
        if torch.is_tensor(x)
    ]


def export(variant: Any, path: str | Path, example_inputs: Any = None) -> Path:
    """Write ``variant`` to ``path`` (suffix chosen by format) plus ``path.json``; returns the artefact path.

    ``example_inputs`` (for tracing and the input signature) default to the rows ``compress`` measured with.
    """
    path = Path(path)
    if example_inputs is None:
        example_inputs = variant.example_inputs
    elif torch.is_tensor(example_inputs):
        example_inputs = (example_inputs,)
    if variant.onnx_bytes is not None:
        artefact, kind = path.with_suffix(".onnx"), "onnx"
        atomic_write_bytes(artefact, variant.onnx_bytes)
    elif variant.module is not None:
        artefact, kind = path.with_suffix(".pt"), "torchscript"
        try:
            if example_inputs is None:
                raise ValueError("no example inputs to trace with")
            with torch.no_grad():
                scripted = torch.jit.trace(variant.module.eval(), tuple(example_inputs), check_trace=False)
            atomic_save(artefact, lambda tmp: torch.jit.save(scripted, str(tmp)))
        except Exception:  # not traceable (data-dependent control flow, no inputs): keep the whole module
            kind = "module"
            atomic_save(artefact, lambda tmp: torch.save(variant.module, tmp))
    else:
        raise ConfigError(f"variant {variant.name!r} holds neither a torch module nor an ONNX graph to export.")
    from tightfit import __version__

    sidecar = {
        "format_version": EXPORT_FORMAT_VERSION,
        "artefact": artefact.name,
        "kind": kind,
        "sha256": hashlib.sha256(artefact.read_bytes()).hexdigest(),
        "tightfit_version": __version__,
        "torch_version": torch.__version__,
        "inputs": _signature(example_inputs),
        **variant.to_dict(),
    }
    atomic_write_text(artefact.with_suffix(artefact.suffix + ".json"), json.dumps(sidecar, indent=2))
    return artefact


def load_exported(path: str | Path, trust: bool = False) -> tuple[Any, dict[str, Any]]:
    """The callable behind an exported artefact and its sidecar, after checking version and hash.

    ONNX and TorchScript files load without running Python code; a module saved whole (``torch.save``, for a
    model that could not be traced) is a pickle and loads only with ``trust=True``. The hash proves the file
    is the one exported, not who exported it."""
    path = Path(path)
    meta_path = path.with_suffix(path.suffix + ".json")
    if not path.is_file() or not meta_path.is_file():
        raise DataError(f"{str(path)!r}: an exported variant needs the artefact and its sidecar {meta_path.name!r}.")
    meta = json.loads(meta_path.read_text())
    if meta.get("format_version") != EXPORT_FORMAT_VERSION:
        raise DataError(
            f"{meta_path.name}: format_version {meta.get('format_version')!r}, this tightfit reads "
            f"{EXPORT_FORMAT_VERSION}; export it again with this version."
        )
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise DataError(f"{path.name}: its SHA-256 differs from the sidecar's; the file changed after export.")
    if meta["kind"] == "onnx":
        from tightfit.compress.onnx import OnnxRunner

        return OnnxRunner(data), meta
    if meta["kind"] == "torchscript":
        module = torch.jit.load(str(path))
    else:
        from tightfit.artefacts import refuse_untrusted

        refuse_untrusted(path, trust, "torch module (saved whole: it could not be traced)")
        module = torch.load(path, weights_only=False)
    for parameter in module.parameters():  # served, not trained: outputs carry no autograd graph
        parameter.requires_grad_(False)
    return module.eval(), meta
