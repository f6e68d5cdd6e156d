"""`load(path)`: the fitted model of a run folder, a model folder or an old pickle file, loaded safely."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tightfit.errors import DataError

__all__ = ["load", "load_table_model", "model_folder"]

HEADERS = ("pipeline.json", "forecaster.json")  # a TabularPipeline's folder, a Forecaster's


def model_folder(path: str | Path) -> Path:
    """Where the model of ``path`` lies: ``RUN_DIR/model``, a model folder itself, or a ``.tfp`` pickle (old
    runs); a path holding none of them is a ``DataError`` saying what was looked for."""
    path = Path(path)
    for candidate in (path / "model", path, path / "model" / "pipeline.tfp"):
        if any((candidate / header).is_file() for header in HEADERS) or (
            candidate.is_file() and candidate.suffix == ".tfp"
        ):
            return candidate
    if not path.exists():
        raise DataError(f"no such run folder or model: {str(path)!r}.")
    raise DataError(
        f"{str(path)!r} holds no saved model: expected a run folder of `tightfit fit --out` or `tightfit forecast "
        "--out` (with model/pipeline.json or model/forecaster.json), a folder written by TabularPipeline.save or "
        "Forecaster.save, or an old .tfp file."
    )


def load(path: str | Path, trust: bool = False, device: str = "auto") -> Any:
    """The fitted pipeline or forecaster saved at ``path`` (see :func:`model_folder`), ready to ``predict``.

    Nothing in the files runs as code unless ``trust=True`` lets a pickle in (old ``.tfp`` files, TabICL and
    TabPFN estimators); ``device`` is where a neural model runs (``"auto"``: CUDA when there is one)."""
    from tightfit.params import check, check_device
    from tightfit.tabular.pipeline import TabularPipeline

    check_device(device, "load")
    check("load", trust=(trust, bool))
    folder = model_folder(path)
    if (folder / "forecaster.json").is_file():
        from tightfit.timeseries import Forecaster

        return Forecaster.load(folder)
    return TabularPipeline.load(folder, trust=trust, device=device)


def load_table_model(path: str | Path, trust: bool = False, device: str = "auto") -> Any:
    """:func:`load`, for commands that predict rows of a table (``predict``, ``serve``): a forecaster's run is a
    ``DataError`` saying how forecasts are made from it."""
    model = load(path, trust=trust, device=device)
    if not hasattr(model, "predict_proba"):
        raise DataError(
            f"{str(path)!r} holds a Forecaster, not a table model: forecast from it with `tightfit forecast --from "
            f"{path} new_history.csv` (or tightfit.load(path).predict(new_history))."
        )
    return model
