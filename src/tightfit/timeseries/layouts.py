"""Series tables as people keep them, read as long format (``unique_id``, ``ds``, ``y``), each with a note.

Read: one date column and a numeric column per series (wide; leading and trailing gaps of a column are where that
series is not, a row counter such as R's ``rownames`` is left out), ``ds`` and ``y`` without ``unique_id`` (one
series), a numeric year column instead of dates, decimal years as R writes a ``ts``'s time (1949.083 for February
1949), a year column and twelve month columns (one monthly series, as climate and economic tables are printed),
and a year and a month column in a long table (a panel by year and month). A table none of these fits is a
``DataError`` naming the layouts read.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tightfit.errors import DataError
from tightfit.read import date_format, parse_dates, written_like

__all__ = ["REQUIRED", "decimal_years", "long_format", "within_each_series"]

REQUIRED = ("unique_id", "ds", "y")
_TIME_NAMES = ("time", "date", "ds", "year", "years", "yr", "period", "t")
_PER_YEAR = {1: "yearly", 4: "quarterly", 12: "monthly"}  # periods a year that decimal years are read at
_OFF_GRID = 0.01  # of a period: decimal years written with 4 decimals are still on their grid
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def _holds_years(values: pd.Series, once: bool = True) -> bool:
    """Whether a column named like a year column holds whole years (1000-2999), each ``once`` (a yearly date)."""
    if not (str(values.name).strip().lower() in ("year", "yr", "years") and pd.api.types.is_numeric_dtype(values)):
        return False
    years = values.dropna().astype("float64")
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


def decimal_years(values: pd.Series) -> tuple[pd.Series, str] | None:
    """Decimal years (floats in 1000-2999, each on the grid of 1, 4 or 12 periods a year, as R writes a ``ts``'s
    time: 1949.0, 1949.083, ...) as the dates their periods start, and the period's name; None for anything else."""
    if not pd.api.types.is_float_dtype(values) or values.isna().any() or not len(values):
        return None
    if not values.between(1000, 2999.999).all():
        return None
    for per_year, name in _PER_YEAR.items():
        periods = values.to_numpy() * per_year
        index = np.round(periods).astype("int64")
        if np.abs(periods - index).max() <= _OFF_GRID:
            year, within = np.divmod(index, per_year)
            month = within * (12 // per_year) + 1
            dates = pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": 1}))
            return pd.Series(dates.to_numpy(), index=values.index, name=values.name), name
    return None


def _row_counter(values: pd.Series) -> bool:
    """Whether a column counts the rows (1..n or 0..n-1 in file order: R's and pandas' row names), not a series."""
    if not pd.api.types.is_integer_dtype(values) or len(values) < 3:
        return False
    steps = values.to_numpy()
    return bool(steps[0] in (0, 1) and (np.diff(steps) == 1).all())


def _year_dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values.astype("int64").astype(str), format="%Y")


def _month_columns(columns: list) -> list | None:
    """The twelve month columns (Jan..Dec, any case, short or full name), in calendar order, or None."""
    found = {}
    for column in columns:
        name = str(column).strip().lower()
        for number, month in enumerate(_MONTHS):
            if name == month or (len(name) > 3 and name.startswith(month)):  # "Jan", "JANUARY", "Sept"
                found.setdefault(number, column)
    return [found[m] for m in range(12)] if len(found) == 12 else None


def long_format(frame: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """``frame`` in long format, and a note when it was not: a table as people keep series — one date column
    (or a year column) and one numeric column per series (wide), a year column and twelve month columns, or
    ``ds`` and ``y`` without ``unique_id`` — is read as such, each series named after its column; leading and
    trailing gaps of a wide column are where that series is not."""
    frame, built = _year_and_month(frame)
    columns = list(frame.columns)
    if all(c in columns for c in REQUIRED):
        return frame, built
    if built:
        long, read = long_format(frame)
        return long, f"{built}; {read}"
    years = [c for c in columns if _holds_years(frame[c])]
    months = _month_columns(columns)
    if len(years) == 1 and months and "ds" not in columns:
        return _from_month_columns(frame, years[0], months)
    forms = {c: date_format(frame[c]) for c in columns if not pd.api.types.is_numeric_dtype(frame[c])}
    stamped = [c for c in columns if pd.api.types.is_datetime64_any_dtype(frame[c]) or forms.get(c) == "ISO8601"]
    written = [c for c, form in forms.items() if form not in (None, "ISO8601")]
    decimal = {c: read for c in columns if str(c).strip().lower() in _TIME_NAMES
               and (read := decimal_years(frame[c])) is not None}  # fmt: skip
    dates = [c for c in columns if c == "ds"] or stamped or written or years or list(decimal)
    counters = [c for c in columns if c not in dates and _row_counter(frame[c])] if len(dates) == 1 else []
    values = [c for c in columns if c not in dates and c not in counters]
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
    if forms.get(ds) is not None:
        frame = frame.assign(**{ds: parse_dates(frame[ds], forms[ds])})
    elif ds in years:
        frame = frame.assign(**{ds: _year_dates(frame[ds])})
    elif ds in decimal:
        frame = frame.assign(**{ds: decimal[ds][0]})
    frame = frame.sort_values(ds, kind="stable")  # in time order: a series' gaps at either end are found by it
    rest = [c for c in columns if c not in (ds, *values, *counters)]
    long = frame.melt(id_vars=[ds, *rest], value_vars=values, var_name="unique_id", value_name="__y__")
    long = long.rename(columns={ds: "ds", "__y__": "y"})
    long = within_each_series(long).loc[:, ["unique_id", "ds", "y", *rest]]
    what = f"{len(values)} series ({', '.join(map(repr, values[:4]))}{' ...' if len(values) > 4 else ''})"
    form = forms.get(ds)
    written_as = "" if form in (None, "ISO8601") else f" (written {written_like(form)})"
    if ds in decimal:
        written_as = f" (decimal years, {decimal[ds][1]})"
    dated = f"{ds!r} as the {'years' if ds in years else 'dates'}{written_as}"
    counted = f"; left out {', '.join(map(repr, counters))} (counting the rows)" if counters else ""
    return long, f"read {dated} and {what} as the values, one series per column{counted}"


def within_each_series(long: pd.DataFrame) -> pd.DataFrame:
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
    return within_each_series(long), note + (f"; left out {left_out}" if left_out else "")
