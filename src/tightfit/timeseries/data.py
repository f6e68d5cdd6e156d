"""Long-format series (``unique_id``, ``ds``, ``y``): checked once, where the user hands them over.

A table as people keep series — one date column and a numeric column per series — is read as long format,
with a note. Every problem is a :class:`DataError` naming the series and what is wrong: missing columns, duplicate
``(unique_id, ds)``, a frequency that is irregular or differs between series, missing targets, a horizon
that is not a positive integer, or a series shorter than the horizon. polars frames are converted to pandas.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from tightfit.errors import DataError
from tightfit.params import Interval, check
from tightfit.read import holds_dates

__all__ = ["SeriesSet", "check_horizon", "check_series", "next_dates"]

REQUIRED = ("unique_id", "ds", "y")


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
    note: str | None = None  # how a frame not in long format was read

    @property
    def ids(self) -> list[str]:
        return list(self.lengths)


def next_dates(last: Any, freq: str | int, h: int) -> Any:
    """The ``h`` time stamps after ``last``: integer steps of ``freq``, or a pandas frequency's dates."""
    if isinstance(freq, int):
        return last + freq * np.arange(1, h + 1)
    return pd.date_range(last, periods=h + 1, freq=freq)[1:]


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
        freq = pd.infer_freq(pd.DatetimeIndex(ds))
        if freq is None:
            steps = pd.Series(np.diff(ds.to_numpy())).value_counts()
            raise DataError(
                f"series {uid!r} has an irregular frequency: steps between dates {list(steps.index[:3].astype(str))} "
                f"occur {list(steps.to_numpy()[:3])} times. Resample it to one frequency (df.resample) first."
            )
        return freq
    if pd.api.types.is_integer_dtype(ds):
        steps = np.unique(np.diff(ds.to_numpy()))
        if len(steps) != 1 or steps[0] <= 0:
            raise DataError(
                f"series {uid!r} has an irregular integer ds: steps {steps[:5].tolist()}; one step is needed."
            )
        return int(steps[0])
    raise DataError(f"column 'ds' of series {uid!r} must hold dates or integers; it holds {ds.dtype}.")


def _long_format(frame: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """``frame`` in long format, and a note when it was not: a table as people keep series — one date column
    and one numeric column per series (wide), or ``ds`` and ``y`` without ``unique_id`` — is read as such, each
    series named after its column; leading and trailing gaps of a wide column are where that series is not."""
    columns = list(frame.columns)
    if all(c in columns for c in REQUIRED):
        return frame, None
    dates = [c for c in columns if c == "ds"] or [c for c in columns if holds_dates(frame[c])]
    values = [c for c in columns if c not in dates]
    readable = len(dates) == 1 and values and "unique_id" not in columns
    if readable and "y" in columns:
        values = ["y"]  # ds, y and exogenous columns: one series
    if not readable or not all(pd.api.types.is_numeric_dtype(frame[c]) for c in values):
        missing = [c for c in REQUIRED if c not in columns]
        raise DataError(
            f"df lacks the column(s) {missing}; long format needs {list(REQUIRED)} (a row per series and date); "
            f"a table of one date column and one numeric column per series is read too; it has {columns}."
        )
    (ds,) = dates
    if holds_dates(frame[ds]):
        frame = frame.assign(**{ds: pd.to_datetime(frame[ds], format="ISO8601")}).sort_values(ds, kind="stable")
    rest = [c for c in columns if c not in (ds, *values)]
    long = frame.melt(id_vars=[ds, *rest], value_vars=values, var_name="unique_id", value_name="__y__")
    long = long.rename(columns={ds: "ds", "__y__": "y"})
    by_series = long.groupby("unique_id")["y"]
    inside = by_series.ffill().notna() & by_series.bfill().notna()  # after its first value, before its last
    long = long.loc[inside, ["unique_id", "ds", "y", *rest]].reset_index(drop=True)
    what = f"{len(values)} series ({', '.join(map(repr, values[:4]))}{' ...' if len(values) > 4 else ''})"
    return long, f"read {ds!r} as the dates and {what} as the values, one series per column"


def check_series(df: Any, horizon: int) -> SeriesSet:
    """Validate ``df`` for forecasting ``horizon`` steps; returns the sorted frame and its frequency. A frame
    not in long format but with one date column and numeric series columns is read as such (``note``)."""
    frame, note = _long_format(_to_pandas(df))
    frame["unique_id"] = frame["unique_id"].astype(str)
    if pd.api.types.is_string_dtype(frame["ds"].dtype):  # text: object dtype, or str in pandas 3
        try:
            frame["ds"] = pd.to_datetime(frame["ds"])
        except (ValueError, TypeError):
            raise DataError("column 'ds' holds text that is not dates; give dates or integers.") from None
    duplicated = frame.duplicated(["unique_id", "ds"])
    if duplicated.any():
        first = frame.loc[duplicated].iloc[0]
        raise DataError(
            f"series {first['unique_id']!r} has {int(duplicated.sum())} duplicate (unique_id, ds) rows, first at "
            f"ds={first['ds']}; aggregate them first."
        )
    if not pd.api.types.is_numeric_dtype(frame["y"]):
        raise DataError(f"column 'y' must be numeric; it holds {frame['y'].dtype}.")
    nan = frame["y"].isna() | ~np.isfinite(frame["y"].astype(float))
    if nan.any():
        uid = frame.loc[nan, "unique_id"].iloc[0]
        raise DataError(
            f"series {uid!r} has {int(nan[frame['unique_id'] == uid].sum())} missing or infinite y values; "
            "fill or drop them first."
        )
    frame = frame.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)
    freqs, lengths = {}, {}
    for uid, group in frame.groupby("unique_id", sort=False):
        freqs[uid] = _series_freq(uid, group["ds"])
        lengths[uid] = len(group)
        if len(group) <= horizon:
            raise DataError(f"series {uid!r} has {len(group)} points, not more than the horizon {horizon}.")
    if len(set(freqs.values())) > 1:
        raise DataError(f"series have different frequencies {dict(list(freqs.items())[:4])}; forecast them separately.")
    exogenous = [c for c in frame.columns if c not in REQUIRED]
    return SeriesSet(frame, next(iter(freqs.values())), lengths, exogenous, note)
