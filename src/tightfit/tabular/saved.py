"""A fitted :class:`~tightfit.tabular.pipeline.TabularPipeline` as a folder that loads without running code.

    model/
      pipeline.json        format and version, settings, label names, class shares, decision, training columns
      processor.skops      the fitted TableProcessor (skops: only trusted types are built)
      model.skops          scikit-learn and LightGBM estimators (LightGBM's booster as its text model)
      model.safetensors    TinyTFM: network weights and the context rows; its estimator shell in estimator.skops

TabICL and TabPFN estimators hold objects of their own packages that skops cannot vouch for: they are written
as ``model.pkl`` and load only with ``trust=True``, as does the single-file pickle of format version 1.
"""

from __future__ import annotations

import copy
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from tightfit.artefacts import (
    atomic_dir,
    check_header,
    load_arrays,
    load_pickle,
    load_skops,
    read_json,
    save_arrays,
    save_skops,
    write_json,
)
from tightfit.errors import ConfigError, DataError

__all__ = ["FORMAT", "FORMAT_VERSION", "load_pipeline", "save_pipeline"]

FORMAT = "tightfit.tabular_pipeline"
FORMAT_VERSION = 2
LEGACY_VERSION = 1  # one pickle file (``pipeline.tfp``)
_CONTEXT = ("X_", "y_")


def save_pipeline(pipe: Any, path: str | Path) -> Path:
    """Write the fitted ``pipe`` into the folder ``path`` (replaced atomically); returns ``path``."""
    from tightfit import __version__

    if not hasattr(pipe, "model_"):
        raise ConfigError("fit the pipeline before saving it.")
    processor = pipe.processor_
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tightfit_version": __version__,
        "model_name": pipe.model_name,
        "task_type": pipe.task_type,
        "tuning_strategy": pipe.tuning_strategy,
        "tuning_params": pipe.tuning_params,
        "model_params": pipe.model_params,
        "decision": pipe.decision,
        "budget": pipe.budget.to_dict(),
        "columns": [{"name": c, "kind": processor.kinds_[c]} for c in processor.columns_],
        "notes": list(getattr(pipe, "notes_", [])),
        "fit_seconds": getattr(pipe, "fit_seconds_", None),
        "finetune": pipe.summary().get("finetune"),
        "distilled_from": getattr(pipe, "distilled_from_", None),
    }
    if getattr(pipe, "interval_residuals_", None) is not None:
        header["interval_residuals"] = pipe.interval_residuals_.tolist()
    if pipe.task_type == "classification":
        header["classes"] = {"values": pipe.classes_.tolist(), "dtype": pipe.classes_.dtype.str}
        header["priors"] = pipe.priors_.tolist()
    with atomic_dir(path) as folder:
        save_skops(folder / "processor.skops", processor)
        header["model"] = _save_estimator(pipe.model_, folder)
        write_json(folder / "pipeline.json", header)
    return Path(path)


def _save_estimator(estimator: Any, folder: Path) -> dict[str, Any]:
    from tightfit.tabular.in_context import InContextEstimator

    if isinstance(estimator, InContextEstimator):
        network = estimator.model_
        tensors = {f"weights.{k}": v for k, v in network.state_dict().items()}
        tensors |= {f"context.{name}": getattr(estimator, name) for name in _CONTEXT}
        save_arrays(folder / "model.safetensors", tensors)
        shell = copy.copy(estimator)
        for name in ("model_", *_CONTEXT):
            delattr(shell, name)
        save_skops(folder / "estimator.skops", shell)
        return {"kind": "tinytfm", "architecture": asdict(network.config)}
    from tightfit.tabular.distillation import DistilledStudent

    module = type(estimator).__module__.split(".")[0]
    if module in ("sklearn", "lightgbm") or isinstance(estimator, DistilledStudent):
        save_skops(folder / "model.skops", estimator)
        return {"kind": "skops"}
    import pickle

    from tightfit.files import atomic_write_bytes

    atomic_write_bytes(folder / "model.pkl", pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL))
    return {"kind": "pickle", "why": f"{type(estimator).__name__} ({module}) has no code-free format"}


def load_pipeline(path: str | Path, trust: bool = False, device: str = "auto") -> Any:
    """Read a pipeline written by :func:`save_pipeline` (or, with ``trust=True``, the pickle of version 1).

    ``device`` is where a neural model runs now (``"auto"``: CUDA when there is one), whatever machine fitted
    it. A damaged, truncated or foreign file is a ``DataError`` naming it."""
    path = Path(path)
    if path.is_file():
        return _load_legacy(path, trust)
    header_path = path / "pipeline.json"
    header = read_json(header_path)
    check_header(header, header_path, FORMAT, FORMAT_VERSION)
    try:
        return _rebuild(path, header, trust, device)
    except (KeyError, TypeError) as exc:
        raise DataError(f"{header_path} lacks or garbles {exc}; the artefact is corrupted.") from None


def _rebuild(folder: Path, header: dict[str, Any], trust: bool, device: str) -> Any:
    from sklearn.base import clone

    from tightfit.budget import Budget
    from tightfit.tabular.backends import model_spec
    from tightfit.tabular.pipeline import TabularPipeline
    from tightfit.tabular.preprocess import TableProcessor
    from tightfit.tabular.tuning import TuningParams

    processor = load_skops(folder / "processor.skops")
    if not isinstance(processor, TableProcessor):
        raise DataError(f"{folder / 'processor.skops'} holds a {type(processor).__name__}, not a TableProcessor.")
    pipe = TabularPipeline.__new__(TabularPipeline)
    pipe.spec = model_spec(header["model_name"])
    pipe.model_name, pipe.task_type = pipe.spec.name, header["task_type"]
    pipe.tuning_strategy, pipe.decision = header["tuning_strategy"], header["decision"]
    pipe.tuning_params, pipe.model_params = dict(header["tuning_params"]), dict(header["model_params"])
    pipe.tuning = TuningParams.from_dict(pipe.tuning_params)
    pipe.budget = Budget(**header["budget"])
    pipe.processor, pipe.processor_ = clone(processor), processor
    pipe.notes_, pipe.target_notes_ = list(header["notes"]), []
    pipe.fit_seconds_, pipe.finetune_ = header["fit_seconds"], None
    pipe.saved_finetune_ = header["finetune"]  # what fine-tuning measured, for summary()
    if header.get("distilled_from"):
        pipe.distilled_from_ = header["distilled_from"]
    pipe.model_ = _load_estimator(folder, header["model"], trust, device)
    residuals = header.get("interval_residuals")  # absent in runs saved before 2026-12-05: no such intervals
    pipe.interval_residuals_ = None if residuals is None else np.asarray(residuals, dtype=np.float64)
    if pipe.task_type == "classification":
        from sklearn.preprocessing import LabelEncoder

        classes = header["classes"]
        pipe.classes_ = np.asarray(classes["values"], dtype=np.dtype(classes["dtype"]))
        pipe.label_encoder_ = LabelEncoder()
        pipe.label_encoder_.classes_ = pipe.classes_
        pipe.priors_ = np.asarray(header["priors"], dtype=np.float64)
    return pipe


def _load_estimator(folder: Path, model: dict[str, Any], trust: bool, device: str) -> Any:
    kind = model["kind"]
    if kind == "skops":
        return load_skops(folder / "model.skops")
    if kind == "pickle":
        return load_pickle(folder / "model.pkl", trust, f"estimator ({model.get('why', '')})")
    if kind != "tinytfm":
        raise DataError(f"{folder / 'pipeline.json'} names an unknown model kind {kind!r}.")
    from tightfit.tabular.in_context import InContextEstimator
    from tightfit.tabular.models.tiny import TinyTFM, TinyTFMConfig

    estimator = load_skops(folder / "estimator.skops")
    if not isinstance(estimator, InContextEstimator):
        raise DataError(
            f"{folder / 'estimator.skops'} holds a {type(estimator).__name__}, not a TinyTFM classifier or regressor."
        )
    tensors = load_arrays(folder / "model.safetensors")
    network = TinyTFM(TinyTFMConfig(**model["architecture"]))
    weights = {k.removeprefix("weights."): v for k, v in tensors.items() if k.startswith("weights.")}
    try:
        network.load_state_dict(weights)
    except RuntimeError as exc:
        raise DataError(f"{folder / 'model.safetensors'} does not match its architecture: {exc}") from None
    estimator.device = device
    estimator.model_ = network.to(estimator._device()).eval()
    for name in _CONTEXT:
        setattr(estimator, name, tensors[f"context.{name}"].numpy())
    return estimator


def _load_legacy(path: Path, trust: bool) -> Any:
    payload = load_pickle(path, trust, "TabularPipeline file (format version 1)")
    if not isinstance(payload, dict) or payload.get("format_version") != LEGACY_VERSION:
        found = payload.get("format_version") if isinstance(payload, dict) else type(payload).__name__
        raise DataError(f"{path} is not a TabularPipeline file of format version {LEGACY_VERSION} (found {found!r}).")
    return payload["pipeline"]
