"""Gaps in series, filled so that every model sees every step: dates a series' frequency skips are added, and
missing values inside a series are interpolated linearly, each with a note. A series missing more than
``MAX_GAP_SHARE`` is left out and named (interpolation would invent its shape), an infinite value is a
``DataError``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tightfit.errors import DataError
from tightfit.timeseries.layouts import within_each_series

__all__ = ["MAX_GAP_SHARE", "fill_gaps", "frequency_of", "missing_dates"]

MAX_GAP_SHARE = 0.2  # a series missing more is left out: interpolation would invent its shape


_FREQUENCIES: dict[tuple[bytes, str], str | None] = {}  # dates -> inferred frequency, for frequency_of
_FREQUENCIES_KEPT = 64
_CALENDAR_STEPS = ("B", "MS", "ME", "QS", "QE", "YS", "YE")  # steps of unequal length, tried beside the common one


def frequency_of(dates: pd.DatetimeIndex) -> str | None:
    """``pd.infer_freq`` of ``dates`` (None under 3 dates), computed once per distinct set of dates: a panel's
    series mostly share theirs (5,000 monthly series: 0.75 s a pass over them, twice per fit, before)."""
    if len(dates) < 3:
        return None
    key = (dates.asi8.tobytes(), str(dates.dtype))  # the dtype keeps the unit and the time zone apart
    if key not in _FREQUENCIES:
        if len(_FREQUENCIES) >= _FREQUENCIES_KEPT:
            _FREQUENCIES.clear()
        _FREQUENCIES[key] = pd.infer_freq(dates)
    return _FREQUENCIES[key]


def _complete_dates(dates: pd.DatetimeIndex) -> pd.DatetimeIndex | None:
    """The regular dates ``dates`` are a subset of with the fewest added, at most ``MAX_GAP_SHARE`` of them: at
    the series' most common step, or a calendar one (business days, month, quarter or year starts and ends);
    None when no frequency holds them."""
    if len(dates) < 3 or frequency_of(dates) is not None:
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


def missing_dates(frame: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
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


def fill_gaps(frame: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
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
    every = frame["unique_id"].drop_duplicates().to_numpy()
    frame = within_each_series(frame.assign(y=y))
    missing = frame["y"].isna().groupby(frame["unique_id"], sort=False).agg(["sum", "size"])
    missing = missing.reindex(every, fill_value=0)  # a series with no value at all: size 0
    sparse = missing.index[(missing["sum"] > MAX_GAP_SHARE * missing["size"]) | (missing["size"] == 0)]
    if len(sparse) == len(missing):
        share = (missing["sum"] / missing["size"].where(missing["size"] > 0)).fillna(1.0)
        worst = share.idxmax()
        lost, size = int(missing.loc[worst, "sum"]), int(missing.loc[worst, "size"])
        held = f"misses {lost} of its {size} y values" if size else "has no y value"
        raise DataError(
            f"series {worst!r} {held} (more than {MAX_GAP_SHARE:.0%} missing)"
            f"{', as do all the others' if len(missing) > 1 else ''}; fill or drop them first."
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
