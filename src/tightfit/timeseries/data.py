"""Long-format series (``unique_id``, ``ds``, ``y``): checked once, where the user hands them over.

A table as people keep series — one date column (or a column of years) and a numeric column per series, or a
year column and twelve month columns — is read as long format, with a note. Gaps inside a series (missing ``y``
between its first and last value, or dates its frequency skips; at most ``MAX_GAP_SHARE`` of it) are filled by
linear interpolation, with a note; the models need every step. Every other problem is a :class:`DataError`
naming the series and what is wrong: missing columns, duplicate ``(unique_id, ds)``, a frequency that is
irregular or differs between series, infinite or too many missing targets, a horizon that is not a positive
integer, or a series shorter than the horizon. polars frames are converted to pandas.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from tightfit.errors import DataError
from tightfit.params import Interval, check
from tightfit.read import holds_dates

__all__ = ["SeriesSet", "check_horizon", "check_series", "next_dates", "seasonality"]

REQUIRED = ("unique_id", "ds", "y")
MAX_GAP_SHARE = 0.2  # more of a series missing than this is refused: interpolation would invent its shape
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


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


# Points per yearly cycle (for days and hours: weekly and daily) of each pandas frequency code; minutes, seconds
# and unknown codes get none (a day of minutes is more history than the seasonal models can use).
_SEASONS = {"YS": 1, "YE": 1, "Y": 1, "BYS": 1, "BYE": 1, "QS": 4, "QE": 4, "BQS": 4, "BQE": 4,
            "MS": 12, "ME": 12, "BMS": 12, "BME": 12, "CBMS": 12, "CBME": 12, "SMS": 24, "SME": 24,
            "W": 52, "D": 7, "B": 5, "C": 5, "h": 24, "bh": 8, "cbh": 8}  # fmt: skip


def seasonality(freq: str | int) -> int:
    """The season length a frequency implies (``"MS"`` -> 12, ``"W-SUN"`` -> 52, ``"D"`` -> 7, ``"h"`` -> 24),
    divided by its multiple (``"2h"`` -> 12); 1 for integer steps, yearly data and unknown frequencies."""
    if isinstance(freq, int):
        return 1
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except ValueError:
        return 1
    season = _SEASONS.get(offset.name.split("-")[0], 1)
    return season // offset.n if season % offset.n == 0 else 1


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
    raise DataError(f"column 'ds' of series {uid!r} must hold dates or integers; it holds {ds.dtype}.")


def _holds_years(values: pd.Series, once: bool = True) -> bool:
    """Whether a column named like a year column holds whole years (1000-2999), each ``once`` (a yearly date)."""
    if not (str(values.name).strip().lower() in ("year", "yr", "years") and pd.api.types.is_numeric_dtype(values)):
        return False
    years = values.dropna()
    whole = len(years) and (years % 1 == 0).all() and years.between(1000, 2999).all()
    return bool(whole and (years.is_unique or not once))


def _month_numbers(values: pd.Series) -> pd.Series | None:
    """A column named like a month column as month numbers 1-12 (from numbers or month names), or None."""
    if str(values.name).strip().lower() not in ("month", "mon", "mo", "months"):
        return None
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.astype("float64")
    else:
        names = values.astype("string").str.strip().str.lower().str[:3]
        numbers = names.map({m: i + 1 for i, m in enumerate(_MONTHS)}).astype("float64")
    if numbers.isna().any() or not ((numbers % 1 == 0) & numbers.between(1, 12)).all():
        return None
    return numbers.astype("int64")


def _year_and_month(frame: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """A ``ds`` column built from a year column and a month column (a panel printed by year and month), or the
    frame as it was."""
    years = [c for c in frame.columns if _holds_years(frame[c], once=False)]
    months = [(c, n) for c in frame.columns if (n := _month_numbers(frame[c])) is not None]
    if "ds" in frame.columns or len(years) != 1 or len(months) != 1 or frame[years[0]].isna().any():
        return frame, None
    (year,), ((month, numbers),) = years, months
    ds = pd.to_datetime(pd.DataFrame({"year": frame[year].astype("int64"), "month": numbers, "day": 1}))
    return frame.drop(columns=[year, month]).assign(ds=ds), f"built the dates from {year!r} and {month!r}"


def _year_dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values.astype("int64").astype(str), format="%Y")


def _month_columns(columns: list) -> list | None:
    """The twelve month columns (Jan..Dec, any case, short or full name), in calendar order, or None."""
    found = {}
    for column in columns:
        name = str(column).strip().lower()
        for number, month in enumerate(_MONTHS):
            if name == month or (len(name) > 3 and name.startswith(month) and month.startswith(name[:3])):
                found.setdefault(number, column)
    return [found[m] for m in range(12)] if len(found) == 12 else None


def _long_format(frame: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """``frame`` in long format, and a note when it was not: a table as people keep series — one date column
    (or a year column) and one numeric column per series (wide), a year column and twelve month columns, or
    ``ds`` and ``y`` without ``unique_id`` — is read as such, each series named after its column; leading and
    trailing gaps of a wide column are where that series is not."""
    frame, built = _year_and_month(frame)
    columns = list(frame.columns)
    if all(c in columns for c in REQUIRED):
        return frame, built
    if built:
        long, read = _long_format(frame)
        return long, f"{built}; {read}"
    years = [c for c in columns if _holds_years(frame[c])]
    months = _month_columns(columns)
    if len(years) == 1 and months and "ds" not in columns:
        return _from_month_columns(frame, years[0], months)
    dates = [c for c in columns if c == "ds"] or [c for c in columns if holds_dates(frame[c])] or years
    values = [c for c in columns if c not in dates]
    readable = len(dates) == 1 and values and "unique_id" not in columns
    if readable and "y" in columns:
        values = ["y"]  # ds, y and exogenous columns: one series
    if not readable or not all(pd.api.types.is_numeric_dtype(frame[c]) for c in values):
        missing = [c for c in REQUIRED if c not in columns]
        raise DataError(
            f"df lacks the column(s) {missing}; long format needs {list(REQUIRED)} (a row per series and date); "
            "a table of one date (or year) column and one numeric column per series is read too, and one of a "
            f"year column and twelve month columns; it has {columns}."
        )
    (ds,) = dates
    if holds_dates(frame[ds]):
        frame = frame.assign(**{ds: pd.to_datetime(frame[ds], format="ISO8601")}).sort_values(ds, kind="stable")
    elif ds in years:
        frame = frame.assign(**{ds: _year_dates(frame[ds])}).sort_values(ds, kind="stable")
    rest = [c for c in columns if c not in (ds, *values)]
    long = frame.melt(id_vars=[ds, *rest], value_vars=values, var_name="unique_id", value_name="__y__")
    long = long.rename(columns={ds: "ds", "__y__": "y"})
    long = _within_each_series(long).loc[:, ["unique_id", "ds", "y", *rest]]
    what = f"{len(values)} series ({', '.join(map(repr, values[:4]))}{' ...' if len(values) > 4 else ''})"
    dated = f"{ds!r} as the {'years' if ds in years else 'dates'}"
    return long, f"read {dated} and {what} as the values, one series per column"


def _within_each_series(long: pd.DataFrame) -> pd.DataFrame:
    by_series = long.groupby("unique_id")["y"]
    inside = by_series.ffill().notna() & by_series.bfill().notna()  # after its first value, before its last
    return long.loc[inside].reset_index(drop=True)


def _from_month_columns(frame: pd.DataFrame, year: Any, months: list) -> tuple[pd.DataFrame, str]:
    """A year column and twelve month columns (a row a year, as climate and economic tables are printed) as one
    monthly series; other columns (an annual mean) are left out, since they are not a month's value."""
    if not all(pd.api.types.is_numeric_dtype(frame[m]) for m in months):
        text = [m for m in months if not pd.api.types.is_numeric_dtype(frame[m])]
        raise DataError(f"month column(s) {text} of a year x month table must be numeric; they hold text.")
    values = frame[months].to_numpy(dtype=float)
    starts = _year_dates(frame[year])
    ds = [start + pd.DateOffset(months=m) for start in starts for m in range(12)]
    long = pd.DataFrame({"unique_id": "y", "ds": ds, "y": values.reshape(-1)}).sort_values("ds", kind="stable")
    left_out = [c for c in frame.columns if c != year and c not in months]
    note = f"read {year!r} and the twelve month columns as one monthly series 'y' ({len(frame)} years)"
    return _within_each_series(long), note + (f"; left out {left_out}" if left_out else "")


_CALENDAR_STEPS = ("B", "MS", "ME", "QS", "QE", "YS", "YE")  # steps of unequal length, tried beside the common one


def _complete_dates(dates: pd.DatetimeIndex) -> pd.DatetimeIndex | None:
    """The regular dates ``dates`` are a subset of with the fewest added, at most ``MAX_GAP_SHARE`` of them: at
    the series' most common step, or a calendar one (business days, month, quarter or year starts and ends);
    None when no frequency holds them."""
    if len(dates) < 3 or pd.infer_freq(dates) is not None:
        return None
    common = pd.Series(np.diff(dates.to_numpy())).mode().iloc[0]  # a timedelta in the dates' own unit
    best = None
    for step in (common, *_CALENDAR_STEPS):
        try:
            full = pd.date_range(dates[0], dates[-1], freq=step)
        except ValueError:
            continue
        fits = len(full) - len(dates) <= MAX_GAP_SHARE * len(full) and dates.isin(full).all()
        if fits and (best is None or len(full) < len(best)):
            best = full
    return best


def _missing_dates(frame: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """Rows added (``y`` missing, to be interpolated) where a dated series skips steps of its frequency: a sensor's
    lost readings, a market's holidays. A series no frequency explains is left for the irregular-frequency error."""
    if not pd.api.types.is_datetime64_any_dtype(frame["ds"]):
        return frame, None
    parts, added, steps = [], 0, set()
    for uid, group in frame.groupby("unique_id", sort=False):
        full = _complete_dates(pd.DatetimeIndex(group["ds"]))
        if full is None:
            parts.append(group)
            continue
        added += len(full) - len(group)
        steps.add(pd.infer_freq(full) or str(full.freq.freqstr))
        completed = group.set_index("ds").reindex(full).rename_axis("ds").reset_index()
        parts.append(completed.assign(unique_id=uid)[group.columns])
    if not added:
        return frame, None
    note = f"added {added} missing date(s) at frequency {', '.join(sorted(steps))}"
    return pd.concat(parts, ignore_index=True), note


def _fill_gaps(frame: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """Missing ``y`` inside a series filled by linear interpolation; a series missing more than ``MAX_GAP_SHARE``
    left out, named in the note (a ``DataError`` when that is every series), and one holding an infinite value
    refused; leading and trailing missing rows are dropped."""
    y = frame["y"].astype(float)
    infinite = np.isinf(y)
    if infinite.any():
        uid = frame.loc[infinite, "unique_id"].iloc[0]
        raise DataError(f"series {uid!r} has {int(infinite[frame['unique_id'] == uid].sum())} infinite y values; "
                        "replace them (with NaN to have them interpolated).")  # fmt: skip
    if not y.isna().any():
        return frame, None
    frame = _within_each_series(frame.assign(y=y))
    missing = frame["y"].isna().groupby(frame["unique_id"], sort=False).agg(["sum", "size"])
    sparse = missing.index[missing["sum"] > MAX_GAP_SHARE * missing["size"]]
    if len(sparse) == len(missing):
        worst = (missing["sum"] / missing["size"]).idxmax()
        raise DataError(
            f"series {worst!r} misses {int(missing.loc[worst, 'sum'])} of its {int(missing.loc[worst, 'size'])} y "
            f"values (more than {MAX_GAP_SHARE:.0%}){', as do all the others' if len(missing) > 1 else ''}; fill or "
            "drop them first."
        )
    notes = []
    if len(sparse):
        frame, missing = frame[~frame["unique_id"].isin(sparse)], missing.drop(index=sparse)
        named = ", ".join(map(repr, sparse[:5])) + (" ..." if len(sparse) > 5 else "")
        notes.append(f"left out {len(sparse)} series missing more than {MAX_GAP_SHARE:.0%} of their values ({named})")
    count, gapped = int(missing["sum"].sum()), int((missing["sum"] > 0).sum())
    if count:
        filled = frame.groupby("unique_id", sort=False)["y"].transform(lambda v: v.interpolate(limit_area="inside"))
        frame = frame.assign(y=filled)
        notes.append(f"filled {count} missing y value(s) inside {gapped} series by linear interpolation")
    return frame.reset_index(drop=True), "; ".join(notes)


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
    frame = frame.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)
    frame, added = _missing_dates(frame)
    frame, filled = _fill_gaps(frame)
    freqs, lengths = {}, {}
    for uid, group in frame.groupby("unique_id", sort=False):
        freqs[uid] = _series_freq(uid, group["ds"])
        lengths[uid] = len(group)
        if len(group) <= horizon:
            raise DataError(f"series {uid!r} has {len(group)} points, not more than the horizon {horizon}.")
    if len(set(freqs.values())) > 1:
        raise DataError(f"series have different frequencies {dict(list(freqs.items())[:4])}; forecast them separately.")
    exogenous = [c for c in frame.columns if c not in REQUIRED]
    notes = "; ".join(filter(None, [note, added, filled]))
    return SeriesSet(frame, next(iter(freqs.values())), lengths, exogenous, notes)
