"""Long-format series (``unique_id``, ``ds``, ``y``): checked once, where the user hands them over.

Tables as people keep series are read as long format (:mod:`tightfit.timeseries.layouts`) and gaps are filled
(:mod:`tightfit.timeseries.gaps`), each with a note. Every other problem is a :class:`DataError` naming the series
and what is wrong: missing columns, duplicate ``(unique_id, ds)``, a frequency that is irregular or differs between
series, infinite or too many missing targets, a horizon that is not a positive integer, or a series shorter than
the horizon. polars frames are converted to pandas.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from tightfit.errors import DataError
from tightfit.params import Interval, check
from tightfit.read import date_format, parse_dates
from tightfit.timeseries.gaps import MAX_GAP_SHARE, fill_gaps, frequency_of, missing_dates
from tightfit.timeseries.layouts import REQUIRED, decimal_years, long_format

__all__ = ["SeriesSet", "check_horizon", "check_series", "next_dates", "seasonality"]


def check_horizon(horizon: Any, owner: str = "Forecaster") -> int:
    check(owner, horizon=(horizon, Interval(int, 1, what="an int >= 1 (steps to forecast)")))
    return int(horizon)


@dataclasses.dataclass
class SeriesSet:
    """Checked series: the frame sorted by (unique_id, ds), the frequency, and per-series lengths."""

    frame: pd.DataFrame
    freq: str | int
    lengths: dict[str, int]
    exogenous: list[str]
    note: str = ""  # how a frame not in long format was read, and what was filled

    @property
    def ids(self) -> list[str]:
        return list(self.lengths)


def next_dates(last: Any, freq: str | int, h: int) -> Any:
    """The ``h`` time stamps after ``last``: integer steps of ``freq``, or a pandas frequency's dates."""
    if isinstance(freq, int):
        return last + freq * np.arange(1, h + 1)
    return pd.date_range(last, periods=h + 1, freq=freq)[1:]


MAX_AUTO_SEASON = 288  # a day of 5-minute readings

# Points per yearly cycle (for days: weekly; hours and minutes: daily) of each pandas frequency code; seconds and
# unknown codes get none. Half-hourly electricity demand (forecast::taylor, fpp2::elecdemand) had none until
# 2026-12-05; at 48 its held-out MASE fell to a third for ETS (README).
_SEASONS = {"YS": 1, "YE": 1, "Y": 1, "BYS": 1, "BYE": 1, "QS": 4, "QE": 4, "BQS": 4, "BQE": 4,
            "MS": 12, "ME": 12, "BMS": 12, "BME": 12, "CBMS": 12, "CBME": 12, "SMS": 24, "SME": 24,
            "W": 52, "D": 7, "B": 5, "C": 5, "h": 24, "bh": 8, "cbh": 8, "min": 1440}  # fmt: skip


def seasonality(freq: str | int) -> int:
    """The season length a frequency implies (``"MS"`` -> 12, ``"W-SUN"`` -> 52, ``"D"`` -> 7, ``"h"`` -> 24,
    ``"30min"`` -> 48), divided by its multiple (``"2h"`` -> 12); 1 for integer steps, yearly data, unknown
    frequencies and cycles over ``MAX_AUTO_SEASON`` points (a day of 1-minute readings: more than the seasonal
    models were ever tried on)."""
    if isinstance(freq, int):
        return 1
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except ValueError:
        return 1
    season = _SEASONS.get(offset.name.split("-")[0], 1)
    season = season // offset.n if season % offset.n == 0 else 1
    return season if season <= MAX_AUTO_SEASON else 1


def _to_pandas(df: Any) -> pd.DataFrame:
    if isinstance(df, pd.DataFrame):
        return df.copy()
    if type(df).__module__.startswith("polars"):
        return df.to_pandas()
    raise DataError(f"df must be a pandas or polars DataFrame in long format {REQUIRED}; got {type(df).__name__}.")


def _series_freq(uid: str, ds: pd.Series) -> str | int:
    if len(ds) < 3:
        raise DataError(f"series {uid!r} has {len(ds)} points: at least 3 are needed to know its frequency.")
    if pd.api.types.is_datetime64_any_dtype(ds):
        freq = frequency_of(pd.DatetimeIndex(ds))
        if freq is None:
            steps = pd.Series(np.diff(ds.to_numpy())).value_counts()
            raise DataError(
                f"series {uid!r} has an irregular frequency: steps between dates {list(steps.index[:3].astype(str))} "
                f"occur {steps.to_numpy()[:3].tolist()} times, and no frequency holds its dates with at most "
                f"{MAX_GAP_SHARE:.0%} of them missing. Resample it to one frequency (df.resample) first."
            )
        return freq
    if pd.api.types.is_integer_dtype(ds):
        steps = np.unique(np.diff(ds.to_numpy()))
        if len(steps) != 1 or steps[0] <= 0:
            raise DataError(
                f"series {uid!r} has an irregular integer ds: steps {steps[:5].tolist()}; one step is needed."
            )
        return int(steps[0])
    raise DataError(
        f"column 'ds' of series {uid!r} must hold dates or integers; it holds {ds.dtype}"
        + (" (decimal years are read only on a yearly, quarterly or monthly grid, e.g. 1949.083 for February)"
           if pd.api.types.is_float_dtype(ds) else "") + "."
    )  # fmt: skip


def check_series(df: Any, horizon: int) -> SeriesSet:
    """Validate ``df`` for forecasting ``horizon`` steps; returns the sorted frame and its frequency. A frame
    not in long format but with one date column and numeric series columns is read as such (``note``)."""
    frame, note = long_format(_to_pandas(df))
    frame["unique_id"] = frame["unique_id"].astype(str)
    if pd.api.types.is_string_dtype(frame["ds"].dtype):  # text: object dtype, or str in pandas 3
        form = date_format(frame["ds"])
        try:
            frame["ds"] = parse_dates(frame["ds"], form) if form else pd.to_datetime(frame["ds"])
        except (ValueError, TypeError):
            raise DataError("column 'ds' holds text that is not dates; give dates or integers.") from None
    read_years = None
    if pd.api.types.is_float_dtype(frame["ds"]) and (decimal := decimal_years(frame["ds"])) is not None:
        frame["ds"], period = decimal
        read_years = f"read ds as decimal years ({period}), each the date its period starts"
    duplicated = frame.duplicated(["unique_id", "ds"])
    if duplicated.any():
        first = frame.loc[duplicated].iloc[0]
        raise DataError(
            f"series {first['unique_id']!r} has {int(duplicated.sum())} duplicate (unique_id, ds) rows, first at "
            f"ds={first['ds']}; aggregate them first."
        )
    if not pd.api.types.is_numeric_dtype(frame["y"]):
        raise DataError(f"column 'y' must be numeric; it holds {frame['y'].dtype}.")
    frame = frame.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)
    frame, added = missing_dates(frame)
    frame, filled = fill_gaps(frame)
    freqs, lengths = {}, {}
    for uid, group in frame.groupby("unique_id", sort=False):
        freqs[uid] = _series_freq(uid, group["ds"])
        lengths[uid] = len(group)
        if len(group) <= horizon:
            raise DataError(f"series {uid!r} has {len(group)} points, not more than the horizon {horizon}.")
    if len(set(freqs.values())) > 1:
        raise DataError(f"series have different frequencies {dict(list(freqs.items())[:4])}; forecast them separately.")
    exogenous = [c for c in frame.columns if c not in REQUIRED]
    notes = "; ".join(filter(None, [note, read_years, added, filled]))
    return SeriesSet(frame, next(iter(freqs.values())), lengths, exogenous, notes)
