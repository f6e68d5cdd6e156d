"""TableProcessor: mixed column kinds, missing values, unseen and rare categories, and every option acting."""

import numpy as np
import pandas as pd
import pytest

from tightfit import DataError
from tightfit.tabular.preprocess import TableProcessor


@pytest.fixture
def mixed():
    rng = np.random.default_rng(0)
    n = 60
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, n).round(),
            "income": np.where(rng.random(n) < 0.2, np.nan, rng.lognormal(10, 1, n)),
            "city": rng.choice(["Oslo", "Lima", "Pune", None], n),
            "member": rng.random(n) < 0.5,
            "joined": pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 1000, n), unit="D"),
            "user_id": [f"u{i % 30}" for i in range(n)],  # high cardinality (a distinct id per row is dropped)
            "constant": 1.0,
        }
    )


def test_kinds_are_encoded_and_names_say_what_each_column_is(mixed):
    proc = TableProcessor().fit(mixed)
    out = proc.transform(mixed)
    assert out.dtype == np.float32 and out.shape[0] == len(mixed)
    names = proc.feature_names_out_
    assert "constant" not in names  # drop_constant
    assert {"joined.year", "joined.month", "joined.day_of_week", "joined.days"} <= set(names)
    assert "joined.hour" not in names  # midnight everywhere: constant, dropped
    member = out[:, names.index("member")]
    assert set(np.unique(member)) == {0.0, 1.0}
    assert np.isnan(out[:, names.index("income")]).sum() == mixed["income"].isna().sum()  # kept for NaN-aware models
    assert np.isnan(out[:, names.index("city")]).sum() == mixed["city"].isna().sum()


def test_unseen_categories_become_missing_and_rare_ones_share_a_code(mixed):
    proc = TableProcessor(max_categories=5).fit(mixed)
    names = proc.feature_names_out_
    ids = proc.transform(mixed)[:, names.index("user_id")]
    assert len(np.unique(ids)) <= 5  # 30 distinct ids folded into at most 5 codes
    new = mixed.head(3).copy()
    new["city"] = ["Atlantis", "Oslo", None]
    coded = proc.transform(new)[:, names.index("city")]
    assert np.isnan(coded[0]) and not np.isnan(coded[1]) and np.isnan(coded[2])


def test_each_option_changes_the_output(mixed):
    base = TableProcessor().fit(mixed)
    imputed = TableProcessor(imputation_strategy="median").fit(mixed)
    assert np.isnan(base.transform(mixed)).any() and not np.isnan(imputed.transform(mixed)).any()
    standard = TableProcessor(imputation_strategy="mean", scaling_strategy="standard").fit(mixed).transform(mixed)
    assert np.allclose(standard.mean(axis=0), 0, atol=1e-5) and np.allclose(standard.std(axis=0), 1, atol=1e-3)
    quantile = TableProcessor(imputation_strategy="mean", scaling_strategy="quantile").fit(mixed)
    income = quantile.transform(mixed)[:, quantile.feature_names_out_.index("income")]
    assert abs(float(np.median(income))) < 0.3  # skewed income mapped to a normal
    onehot = TableProcessor(categorical_encoding="onehot").fit(mixed)
    assert sum(n.startswith("city=") for n in onehot.feature_names_out_) >= 3
    assert "constant" in TableProcessor(drop_constant=False).fit(mixed).feature_names_out_


def test_arrays_work_and_missing_columns_are_named():
    X = np.arange(12, dtype=float).reshape(4, 3)
    assert TableProcessor().fit(X).transform(X).shape == (4, 3)
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [3.0, 1.0, 2.0]})
    proc = TableProcessor().fit(frame)
    with pytest.raises(DataError, match=r"lacks the column\(s\) \['b'\]"):
        proc.transform(frame[["a"]])
    with pytest.raises(DataError, match="every column of X is constant"):
        TableProcessor().fit(pd.DataFrame({"a": [1.0, 1.0]}))


def test_scikit_learn_output_api_names_every_column_and_a_saved_processor_transforms_the_same(mixed, tmp_path):
    from tightfit.artefacts import load_skops, save_skops

    proc = TableProcessor(categorical_encoding="onehot", imputation_strategy="median").fit(mixed)
    assert list(proc.get_feature_names_out()) == proc.feature_names_out_
    assert {"city=Oslo", "city=Lima", "city=Pune", "city=nan"} <= set(proc.feature_names_out_)
    frame = TableProcessor(categorical_encoding="onehot", imputation_strategy="median").set_output(
        transform="pandas").fit(mixed).transform(mixed)  # fmt: skip
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == proc.feature_names_out_
    assert np.allclose(frame.to_numpy(), proc.transform(mixed))
    save_skops(tmp_path / "processor.skops", proc)  # only trusted types: the encoders' functions are named there
    loaded = load_skops(tmp_path / "processor.skops")
    unseen = mixed.assign(city=["Quito"] * len(mixed))
    assert np.array_equal(loaded.transform(unseen), proc.transform(unseen))
    assert loaded.transform(unseen)[:, [n.startswith("city=") for n in proc.feature_names_out_]].sum() == 0


def test_iso_dates_written_as_text_are_read_as_dates_not_as_an_identifier(mixed):
    """A CSV holds dates as text: distinct in every row, they would be dropped as an identifier."""
    written = mixed.assign(joined=mixed["joined"].dt.strftime("%Y-%m-%d"))
    written.loc[3, "joined"] = None  # a missing date stays missing
    proc = TableProcessor().fit(written)
    assert proc.kinds_["joined"] == "datetime"
    assert not any("identifier" in note for note in proc.notes_)
    names, out = proc.feature_names_out_, proc.transform(written)
    month = out[:, names.index("joined.month")]
    assert np.isnan(month[3]) and np.array_equal(np.delete(month, 3), np.delete(mixed["joined"].dt.month, 3))
    stamped = proc.transform(written.assign(joined=mixed["joined"].dt.strftime("%Y-%m-%dT06:00:00")))
    later = stamped[:, names.index("joined.days")] - out[:, names.index("joined.days")]
    assert np.nanmax(np.abs(later - 0.25)) < 0.01  # a time stamp at predict: 6 hours later (float32 days)
    with pytest.raises(DataError, match=r"column 'joined' was datetime.*'soon'"):
        proc.transform(written.assign(joined="soon"))
    labels = written.assign(joined=["2024-01-0" + str(i % 9 + 1) if i else "soon" for i in range(len(written))])
    assert TableProcessor().fit(labels).kinds_["joined"] == "categorical"  # one cell not a date: text


@pytest.mark.parametrize("written", ["%m/%d/%Y", "%d.%m.%Y", "%b %Y"])
def test_dates_written_in_a_spreadsheets_format_are_read_in_that_format_at_fit_and_predict(mixed, tmp_path, written):
    """An "Order Date" of 01/31/2018 was a category of a level per row (dropped as an identifier)."""
    from tightfit.artefacts import load_skops, save_skops

    dates = mixed["joined"].dt.strftime(written)
    proc = TableProcessor().fit(mixed.assign(joined=dates))
    assert proc.kinds_["joined"] == "datetime" and proc.date_formats_ == {"joined": written}
    names = proc.feature_names_out_
    month = proc.transform(mixed.assign(joined=dates))[:, names.index("joined.month")]
    assert np.array_equal(month, mixed["joined"].dt.month)  # the month where the format puts it, not the day
    save_skops(tmp_path / "p.skops", proc)
    again = load_skops(tmp_path / "p.skops")
    np.testing.assert_array_equal(
        again.transform(mixed.assign(joined=dates)), proc.transform(mixed.assign(joined=dates))
    )
    with pytest.raises(DataError, match=r"column 'joined' was datetime.*'2024-13-45'"):
        proc.transform(mixed.assign(joined=dates.where(dates.index != 2, "2024-13-45")))


def test_numbers_written_with_currency_thousands_and_percent_signs_are_read_as_numbers():
    """A spreadsheet's export: "$42,464.97" is distinct in every row (it was dropped as an identifier) and
    "52.2%" was a category."""
    rng = np.random.default_rng(0)
    income, share = rng.uniform(1e3, 1e5, 40).round(2), rng.uniform(0, 100, 40).round(1)
    frame = pd.DataFrame({"income": [f"${v:,.2f}" for v in income], "share": [f"{v}%" for v in share],
                          "code": [f"{i % 3}-{i % 5}" for i in range(40)]})  # fmt: skip
    frame.loc[7, "income"] = None
    proc = TableProcessor().fit(frame)
    assert proc.kinds_ == {"income": "numeric", "share": "numeric", "code": "categorical"}
    assert proc.notes_ == ["read 2 text column(s) as numbers (currency signs, thousands separators, percent signs "
                           "dropped): 'income', 'share'"]  # fmt: skip
    out = proc.transform(frame)
    expected = np.where(np.arange(40) == 7, np.nan, income)
    assert np.allclose(out[:, 0], expected, equal_nan=True) and np.allclose(out[:, 1], share)
    with pytest.raises(DataError, match=r"column 'income' was numeric.*'about 5k'"):
        proc.transform(frame.assign(income="about 5k"))


def test_the_text_nan_and_a_missing_value_are_two_one_hot_levels_with_two_names():
    """Found by the fuzz test: one-hot names ``c=nan`` for both collided and the fit failed."""
    frame = pd.DataFrame({"c": pd.Series(["a"] * 20 + ["nan"] * 10 + [None] * 10, dtype=object)})
    proc = TableProcessor(categorical_encoding="onehot").fit(frame)
    assert proc.feature_names_out_ == ["c=a", "c='nan'", "c=nan"]
    assert proc.transform(frame).sum(axis=0).tolist() == [20, 10, 10]
