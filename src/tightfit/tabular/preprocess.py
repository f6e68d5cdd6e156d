"""`TableProcessor`: any table (DataFrame or array) to a float32 matrix a model can read, fitted on training rows.

Before anything is encoded, columns that cannot help are dropped with a note in ``notes_``: columns missing in
every row, identifier-like columns (a distinct text value in every row, or an integer row counter) and, with
``drop_constant``, constant ones; infinities count as missing and magnitudes above 1e30 are clipped (float32 and
a scaler's variance hold them); duplicate column names are refused. Column kinds are read from the dtypes:
numbers and booleans stay numbers (booleans as 0/1), and so do numbers written as text with currency signs,
thousands separators or percent signs ("$1,234.50", "12%"); datetimes — and text columns of ISO 8601 dates, as a
CSV holds them — become year, month, day, weekday, hour and days since 1970; everything else is categorical.
Categories seen at predict time but not in training map to "missing" (ordinal) or all-zero (one-hot); the
``max_categories`` most frequent levels keep their own code and the rarer ones share one, so an identifier-like
column cannot blow up the width. ``processor_params`` of :class:`~tightfit.tabular.pipeline.TabularPipeline` are
this class's parameters; ``None`` means the model's own default (in-context models and gradient boosting read
missing values natively, a linear model needs them imputed and scaled).

The encoding itself is scikit-learn's: a ``ColumnTransformer`` (one transformer per column kind: numbers,
booleans, datetime parts, ``OrdinalEncoder``/``OneHotEncoder`` with ``max_categories`` and ``handle_unknown``),
then ``VarianceThreshold`` (constant columns), ``SimpleImputer`` and ``StandardScaler``/``QuantileTransformer`` in
one ``Pipeline`` (``transformer_``). What this class adds is the data rules above, checked before it and at
predict time, and the notes. ``get_feature_names_out`` names every output column, so
``set_output(transform="pandas")`` gives a DataFrame.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from tightfit.errors import DataError, bad_param
from tightfit.params import Interval, check
from tightfit.read import date_format, formatted_numbers, holds_formatted_numbers, parse_dates

__all__ = ["PROCESSOR_OPTIONS", "TableProcessor", "check_column_names", "identifier_columns"]

PROCESSOR_OPTIONS = {
    "imputation_strategy": ("none", "median", "mean", "most_frequent"),
    "categorical_encoding": ("ordinal", "onehot"),
    "scaling_strategy": ("none", "standard", "quantile"),
}
_DATETIME_PARTS = ("year", "month", "day", "day_of_week", "hour")
_LARGEST = 1e30  # magnitudes are clipped here: float32 holds them and a scaler's variance stays finite


class TableProcessor(TransformerMixin, BaseEstimator):
    """Encode, impute and scale a table; see the module docstring.

    Parameters
    ----------
    imputation_strategy : {"none", "median", "mean", "most_frequent"}, default="none"
        ``"none"`` keeps NaN for models that read missing values.
    categorical_encoding : {"ordinal", "onehot"}, default="ordinal"
    scaling_strategy : {"none", "standard", "quantile"}, default="none"
        ``"quantile"`` maps each column to a normal distribution (robust to outliers and skew).
    max_categories : int, default=32
        Levels per categorical column that keep their own code; rarer ones are grouped.
    drop_constant : bool, default=True
        Drop columns with a single value (or none) in the training rows.
    """

    def __init__(
        self,
        imputation_strategy: str = "none",
        categorical_encoding: str = "ordinal",
        scaling_strategy: str = "none",
        max_categories: int = 32,
        drop_constant: bool = True,
    ) -> None:
        self.imputation_strategy = imputation_strategy
        self.categorical_encoding = categorical_encoding
        self.scaling_strategy = scaling_strategy
        self.max_categories = max_categories
        self.drop_constant = drop_constant

    def check_params(self) -> TableProcessor:
        """Validate the parameters (the pipeline calls this at construction)."""
        for name, allowed in PROCESSOR_OPTIONS.items():
            if getattr(self, name) not in allowed:
                raise bad_param(name, "processor_params", allowed, getattr(self, name))
        check("processor_params", max_categories=(self.max_categories, Interval(int, 2)),
              drop_constant=(self.drop_constant, bool))  # fmt: skip
        return self

    # -- fit ---------------------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> TableProcessor:
        from pandas.api.types import is_numeric_dtype

        self.check_params()
        frame = _frame(X)
        if frame.shape[0] == 0 or frame.shape[1] == 0:
            raise DataError(f"X must have at least one row and one column; got shape {frame.shape}.")
        check_column_names(frame)
        self.notes_: list[str] = []
        self.columns_ = self._useful_columns(frame)
        kinds = {c: _kind_and_format(frame[c]) for c in self.columns_}
        self.kinds_ = {c: kind for c, (kind, _) in kinds.items()}
        self.date_formats_ = {c: form for c, (_, form) in kinds.items() if form not in (None, "ISO8601")}
        written = [c for c, kind in self.kinds_.items() if kind == "numeric" and not is_numeric_dtype(frame[c].dtype)]
        if written:
            self.notes_.append(f"read {len(written)} text column(s) as numbers (currency signs, thousands separators, "
                               f"percent signs dropped): {_listed(written)}")  # fmt: skip
        self.transformer_ = self._transformer(len(frame))
        try:
            self.transformer_.fit(self._selected(frame))
        except ValueError as error:
            if "variance threshold" not in str(error):
                raise
            raise DataError(
                "every column of X is constant (or empty) in the training rows; nothing to learn from."
            ) from None
        if self.drop_constant:
            encoded = self.transformer_["columns"].get_feature_names_out()
            constant = list(encoded[~self.transformer_["constant"].get_support()])
            if constant:
                self.notes_.append(f"dropped {len(constant)} constant column(s): {_listed(constant)}")
        return self

    def _transformer(self, n_rows: int):
        """The scikit-learn pipeline for these column kinds and options (unfitted)."""
        from sklearn.base import clone
        from sklearn.compose import ColumnTransformer
        from sklearn.feature_selection import VarianceThreshold
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline, make_pipeline
        from sklearn.preprocessing import FunctionTransformer, QuantileTransformer, StandardScaler

        by_step = {
            "numbers": FunctionTransformer(_numbers, feature_names_out="one-to-one"),  # numeric and boolean columns
            "datetime": FunctionTransformer(
                _datetime_parts, feature_names_out=_datetime_names, kw_args={"formats": dict(self.date_formats_)}
            ),
            "categorical": make_pipeline(
                FunctionTransformer(_as_text, feature_names_out="one-to-one"), self._encoder()
            ),
        }
        runs: list[tuple[str, list[int]]] = []  # consecutive columns of one step: the output keeps the table's order
        for position, kind in enumerate(self.kinds_.values()):
            step = "numbers" if kind in ("numeric", "boolean") else kind
            if runs and runs[-1][0] == step:
                runs[-1][1].append(position)
            else:
                runs.append((step, [position]))
        columns = ColumnTransformer(
            [(f"{step}_{i}", clone(by_step[step]), positions) for i, (step, positions) in enumerate(runs)],
            verbose_feature_names_out=False,
        )
        steps = [("columns", columns)]
        if self.drop_constant:
            steps.append(("constant", VarianceThreshold(0.0)))
        if self.imputation_strategy != "none":
            steps.append(("impute", SimpleImputer(strategy=self.imputation_strategy, keep_empty_features=True)))
        if self.scaling_strategy == "standard":
            steps.append(("scale", StandardScaler()))
        elif self.scaling_strategy == "quantile":
            n_quantiles = max(2, min(1000, n_rows))  # more than the rows would only warn
            steps.append(("scale", QuantileTransformer(n_quantiles=n_quantiles, output_distribution="normal")))
        return Pipeline(steps)

    def _selected(self, frame):
        """The used columns in training order, named as text (scikit-learn's transformers want one name type)."""
        names = [str(c) for c in self.columns_]
        if list(frame.columns) == names:  # already so: no copy
            return frame
        return frame[self.columns_].set_axis(names, axis=1)

    def _useful_columns(self, frame) -> list:
        """The columns worth encoding; the others are named in ``notes_``."""
        from pandas.api.types import is_numeric_dtype

        empty = []
        for column in frame.columns:
            values = frame[column]
            if is_numeric_dtype(values.dtype) and values.dtype.kind == "f":
                values = values.where(np.isfinite(values))
            if values.isna().all():
                empty.append(column)
        ids = [c for c in identifier_columns(frame) if c not in empty]
        if empty:
            self.notes_.append(f"dropped {len(empty)} column(s) missing in every row: {_listed(empty)}")
        if ids:
            self.notes_.append(identifier_note(ids))
        useful = [c for c in frame.columns if c not in empty and c not in ids]
        if not useful:
            raise DataError("every column of X is empty or an identifier; nothing to learn from.")
        return useful

    def _encoder(self):
        from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

        if self.categorical_encoding == "onehot":
            return OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=self.max_categories,
                                 sparse_output=False, feature_name_combiner=_level_name)  # fmt: skip
        return OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=np.nan,
            encoded_missing_value=np.nan,
            max_categories=self.max_categories,
        )

    # -- transform ---------------------------------------------------------------------------------------
    def transform(self, X: Any) -> np.ndarray:
        """The float32 matrix of ``X`` (NaN where missing unless imputed), columns ``feature_names_out_``."""
        check_is_fitted(self, "columns_")
        frame = _frame(X, self.columns_)
        self._check_schema(frame)
        return np.asarray(self.transformer_.transform(self._selected(frame)), dtype=np.float32)

    @property
    def feature_names_out_(self) -> list[str]:
        """The name of every output column (one-hot levels as ``column=level``, datetimes as ``column.part``)."""
        return [str(n) for n in self.get_feature_names_out()]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "columns_")
        return self.transformer_.get_feature_names_out()

    @property
    def text_columns_(self) -> list:
        """The categorical columns: a reader must keep them as text (a chunk of digits is still a category)."""
        check_is_fitted(self, "columns_")
        return [c for c, kind in self.kinds_.items() if kind == "categorical"]

    def ignored_note(self, X: Any) -> str | None:
        """A note naming the columns of ``X`` the processor does not read (not fitted on, or dropped at fit)."""
        check_is_fitted(self, "columns_")
        used = set(self.columns_)
        extra = [c for c in _frame(X, self.columns_).columns if c not in used]
        return f"ignored {len(extra)} column(s) the model does not read: {_listed(extra)}" if extra else None

    def _check_schema(self, frame) -> None:
        """Every training column is there and holds values of its training kind; else a ``DataError`` naming
        the column, the first bad value and its row."""
        missing = [c for c in self.columns_ if c not in frame.columns]
        if missing:
            raise DataError(f"X lacks the column(s) {missing} that the pipeline was fitted on.")
        for column in self.columns_:
            kind = self.kinds_[column]
            if kind == "categorical":
                continue  # any value is a category; unseen ones count as missing
            bad = _first_bad(frame[column], kind, getattr(self, "date_formats_", {}).get(column))
            if bad is not None:
                row, value = bad
                raise DataError(
                    f"column {str(column)!r} was {kind} when the pipeline was fitted, but row {row} holds "
                    f"{value!r}; fix the value or leave the cell empty (missing)."
                )


def check_column_names(X: Any) -> None:
    """A ``DataError`` naming the column names ``X`` holds twice (a column must be named to be read)."""
    frame = _frame(X)
    duplicated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if duplicated:
        raise DataError(f"X has duplicate column names {duplicated}; rename them so each column has one name.")


def identifier_columns(X: Any) -> list:
    """The columns of ``X`` that name rows rather than describe them: distinct in every row (of at least 20)
    and text, or integers counting the rows (sorted, each one more than the last). Checked on the whole table:
    a cross-validation fold's rows of a counter are not consecutive, so a fold would keep what the refit drops."""
    from pandas.api.types import is_integer_dtype, is_numeric_dtype

    frame, ids = _frame(X), []
    rows = len(frame)
    check_column_names(frame)
    for column in frame.columns:
        values = frame[column]
        if rows < 20 or values.nunique(dropna=False) != rows:
            continue
        text = not is_numeric_dtype(values.dtype) and _kind(values) == "categorical"
        counter = is_integer_dtype(values.dtype) and (np.diff(np.sort(values.to_numpy())) == 1).all()
        if text or counter:
            ids.append(column)
    return ids


def identifier_note(ids: list) -> str:
    return f"dropped {len(ids)} identifier-like column(s) (distinct in every row): {_listed(ids)}"


def _as_numbers(values):
    import pandas as pd
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    if is_numeric_dtype(values.dtype) or is_bool_dtype(values.dtype):
        return pd.to_numeric(values, errors="coerce")
    return formatted_numbers(values)


def _numbers(frame) -> np.ndarray:
    """Numbers (booleans as 0/1) as float64; infinities count as missing, magnitudes past 1e30 are clipped."""

    try:  # numeric and boolean columns in one step (one-row predictions are latency-bound)
        numbers = frame.to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError):  # text among the numbers ("$1,234", "12%"): column by column, unreadable missing
        numbers = np.column_stack([_as_numbers(frame[c]).to_numpy(dtype="float64", na_value=np.nan)
                                   for c in frame.columns])  # fmt: skip
    return np.clip(np.where(np.isinf(numbers), np.nan, numbers), -_LARGEST, _LARGEST)


def _datetime_parts(frame, formats: dict | None = None) -> np.ndarray:
    """Each datetime column as its year, month, day, weekday, hour and days since 1970; ``formats``: the written
    format of a text column that is not ISO 8601 (``tightfit.read.date_format``, found at fit)."""
    import pandas as pd

    blocks = []
    for column in frame.columns:
        form = (formats or {}).get(column)
        stamps = _stamps(frame[column]) if form is None else parse_dates(frame[column], form, errors="coerce")
        if getattr(stamps.dt, "tz", None) is not None:
            stamps = stamps.dt.tz_convert(None)
        days = (stamps - pd.Timestamp(0)).dt.total_seconds() / 86400.0
        parts = [getattr(stamps.dt, part).astype("float64") for part in _DATETIME_PARTS] + [days]
        blocks.append(np.column_stack([p.to_numpy(na_value=np.nan) for p in parts]))
    return np.hstack(blocks)


def _stamps(values):
    """A column as datetimes: text read as ISO 8601 (fast), any other written date read one by one; unreadable
    cells missing (``_check_schema`` has named them already)."""
    import pandas as pd
    from pandas.api.types import is_datetime64_any_dtype

    if is_datetime64_any_dtype(values.dtype):
        return values
    stamps = pd.to_datetime(values, errors="coerce", format="ISO8601")
    if (stamps.isna() & values.notna()).any():
        stamps = pd.to_datetime(values, errors="coerce", format="mixed")
    return stamps


def _datetime_names(transformer, input_features) -> list[str]:
    return [f"{column}.{part}" for column in input_features for part in (*_DATETIME_PARTS, "days")]


def _level_name(column: str, level: Any) -> str:
    """``column=level``; missing is ``column=nan``, so the text "nan" (a level like any other) is quoted."""
    return f"{column}='nan'" if level == "nan" else f"{column}={level}"


def _as_text(frame) -> np.ndarray:
    """Categorical columns as strings, missing as NaN (so the encoder sees one missing marker)."""
    return np.column_stack([_categories(frame[c]) for c in frame.columns])


def _frame(X: Any, columns: list | None = None):
    """A DataFrame view of ``X``: DataFrames as they are, arrays with integer column names."""
    import pandas as pd

    if isinstance(X, pd.DataFrame):
        return X
    if hasattr(X, "to_pandas"):  # polars, pyarrow
        return X.to_pandas()
    array = np.asarray(X)
    if array.ndim != 2:
        raise DataError(f"X must be 2-dimensional (rows x columns); got an array of shape {array.shape}.")
    frame = pd.DataFrame(array, columns=columns if columns is not None and len(columns) == array.shape[1] else None)
    return frame.infer_objects() if array.dtype == object else frame


def _first_bad(values, kind: str, date_form: str | None = None) -> tuple[Any, Any] | None:
    """The row label and value of the first non-missing cell that is not of ``kind`` (a datetime in
    ``date_form`` when the column was written in one at fit), or None."""
    import pandas as pd
    from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype

    if kind == "numeric" and (is_numeric_dtype(values.dtype) or is_bool_dtype(values.dtype)):
        return None
    if kind == "boolean" and is_bool_dtype(values.dtype):
        return None
    if kind == "datetime" and is_datetime64_any_dtype(values.dtype):
        return None
    if kind == "numeric":
        readable = _as_numbers(values).notna()
    elif kind == "boolean":
        readable = values.isin([True, False, 0, 1])
    elif date_form is not None:
        readable = parse_dates(values, date_form, errors="coerce").notna()
    else:
        readable = pd.to_datetime(values, errors="coerce", format="mixed").notna()
    bad = values.notna() & ~readable
    if not bad.any():
        return None
    position = int(np.argmax(bad.to_numpy()))
    return values.index[position], values.iloc[position]


def _listed(columns: list, most: int = 8) -> str:
    shown = ", ".join(repr(str(c)) for c in columns[:most])
    return shown + (f" and {len(columns) - most} more" if len(columns) > most else "")


def _kind_and_format(values) -> tuple[str, str | None]:
    """The column's kind (boolean, numeric, datetime or categorical) and, for dates written as text, the format
    :func:`tightfit.read.date_format` reads them in (found once: it scans the whole column)."""
    from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype

    if is_bool_dtype(values.dtype):
        return "boolean", None
    if is_numeric_dtype(values.dtype):
        return "numeric", None
    if is_datetime64_any_dtype(values.dtype):
        return "datetime", None
    form = date_format(values)
    if form is not None:
        return "datetime", form
    return ("numeric" if holds_formatted_numbers(values) else "categorical"), None


def _kind(values) -> str:
    return _kind_and_format(values)[0]


def _categories(values) -> np.ndarray:
    """A column as an object array of strings, missing as NaN (so encoders see one missing marker)."""
    out = values.astype(object).to_numpy().astype(str).astype(object)
    out[values.isna().to_numpy()] = np.nan
    return out
