"""A fitted :class:`~tightfit.timeseries.forecaster.Forecaster` as a folder that loads without running code.

model/
  forecaster.json        format and version, settings, frequency, members, conformal widths and interval scales,
                         notes, leaderboard
  forecast.csv           the forecast made at fit (``predict()`` after loading)
  <member>.skops         statsforecast's fitted models, one per series (only their own types are trusted)
  <member>.txt           LightGBM's booster in its own text format
  <member>.safetensors   DLinear / N-HiTS weights
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from tightfit.artefacts import atomic_dir, check_header, read_json, write_json
from tightfit.errors import DataError
from tightfit.files import atomic_write_text

__all__ = ["FORMAT", "FORMAT_VERSION", "load_forecaster", "save_forecaster"]

FORMAT = "tightfit.forecaster"
FORMAT_VERSION = 2  # 2: LightGBM members through mlforecast (other features and scaling than 1)
HEADER = "forecaster.json"


def save_forecaster(fc: Any, path: str | Path) -> Path:
    """Write the fitted ``fc`` into the folder ``path`` (replaced atomically); returns ``path``."""
    from tightfit import __version__

    members, board = [], fc.leaderboard_
    with atomic_dir(path) as folder:
        for i, name in enumerate(fc.members_):
            fitted = fc.fitted_[name]
            files = fitted.to_files(folder, f"member{i}-{name}")
            members.append({"name": name, "kind": fitted.kind, "h": fitted.h} | files)
        atomic_write_text(folder / "forecast.csv", fc.forecast_.to_csv(index=False))
        write_json(folder / HEADER, {
            "format": FORMAT, "format_version": FORMAT_VERSION, "tightfit_version": __version__,
            "horizon": fc.horizon, "season_length": fc.season_length, "season_length_used": fc.season_length_used_,
            "freq": fc.freq_, "level": list(fc.level), "metric": fc.metric, "ensemble": fc.ensemble,
            "top_k": fc.top_k, "budget": fc.budget.to_dict(), "chosen": fc.chosen_, "members": members,
            "weights": None if fc.weights_ is None else list(fc.weights_),
            "widths": fc.widths_, "interval_scales": fc.interval_scales_, "notes": fc.notes_,
            "fit_seconds": fc.fit_seconds_,
            "leaderboard": board.astype(object).where(board.notna(), None).to_dict("records"),
        })  # fmt: skip
    return Path(path)


def load_forecaster(path: str | Path) -> Any:
    """The forecaster saved at ``path`` (a run folder's ``model/`` or the folder itself)."""
    from tightfit.budget import Budget
    from tightfit.timeseries.forecaster import Forecaster
    from tightfit.timeseries.models import FITTED

    folder = Path(path)
    folder = folder / "model" if (folder / "model" / HEADER).is_file() else folder
    header = read_json(folder / HEADER)
    check_header(header, folder / HEADER, FORMAT, FORMAT_VERSION)
    try:
        fc = Forecaster(header["horizon"], header["season_length"], budget=Budget(**header["budget"]),
                        metric=header["metric"], ensemble=header["ensemble"], top_k=header["top_k"],
                        level=header["level"], verbose=False)  # fmt: skip
        fc.freq_, fc.season_length_used_ = header["freq"], header["season_length_used"]
        fc.chosen_, fc.notes_, fc.fit_seconds_ = header["chosen"], header["notes"], header["fit_seconds"]
        fc.widths_ = header["widths"]
        fc.interval_scales_ = header.get("interval_scales", {})  # absent before calibration: the models' own
        fc.members_ = [m["name"] for m in header["members"]]
        weights = header.get("weights")  # absent before weighted ensembles: a saved ensemble was a median
        fc.weights_ = tuple(weights) if weights is not None else ((1.0,) if len(fc.members_) == 1 else None)
        fc.fitted_ = {m["name"]: FITTED[m["kind"]].from_files(folder, m) for m in header["members"]}
        fc.saved_leaderboard_ = pd.DataFrame(header["leaderboard"])
    except (KeyError, TypeError) as exc:
        raise DataError(f"{folder / HEADER} lacks or garbles the entry {exc}; the file is damaged.") from None
    fc.forecast_ = _read_forecast(folder / "forecast.csv", fc.freq_)
    return fc


def _read_forecast(path: Path, freq: str | int) -> pd.DataFrame:
    try:
        forecast = pd.read_csv(path, dtype={"unique_id": str})
    except FileNotFoundError:
        raise DataError(f"{path} does not exist; was the forecaster saved completely?") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not a readable forecast ({exc}); it is truncated or corrupted.") from None
    if not isinstance(freq, int):
        forecast["ds"] = pd.to_datetime(forecast["ds"])
    return forecast
