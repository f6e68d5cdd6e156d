"""`read_table(path)`: a table file as people have them — the one reader of ``fit``, ``forecast`` and ``predict``.

CSV (comma, semicolon, tab or pipe: sniffed, quoting too), gzip/bz2/xz/zip-compressed CSV, Parquet, JSON (a list of
records, or pandas' column layout) and JSON Lines (``.jsonl``, ``.ndjson``), and Excel workbooks (their first sheet;
needs ``openpyxl``).
Text is read as UTF-8 (a byte-order mark is dropped) and falls back to Latin-1, which can read any byte, with a
note saying so. An empty, unreadable or binary file is a :class:`~tightfit.errors.DataError` naming the file and
the reason, never a parser's traceback.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import lzma
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tightfit.errors import DataError

__all__ = [
    "DATE_FORMATS",
    "date_format",
    "formatted_numbers",
    "holds_formatted_numbers",
    "parse_dates",
    "read_table",
    "read_table_chunks",
    "written_like",
]

_SAMPLE_BYTES = 64 * 1024
# a number as spreadsheets write it: a sign, a currency symbol, thousands separators, a percent sign
_FORMATTED_NUMBER = r"\s*[-+]?\s*[$€£¥]?\s*[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?\s*%?\s*"
_DELIMITERS = ",;\t|"
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def _head(path: Path) -> bytes:
    """The first bytes of the file's content, decompressed when the name says it is compressed."""
    suffix = path.suffix.lower()
    try:
        if suffix in _OPENERS:
            with _OPENERS[suffix](path, "rb") as handle:
                return handle.read(_SAMPLE_BYTES)
        if suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if not n.endswith("/")]
                if len(names) != 1:
                    raise DataError(f"{str(path)!r} is a zip archive of {len(names)} files; it must hold exactly one.")
                with archive.open(names[0]) as handle:
                    return handle.read(_SAMPLE_BYTES)
        with open(path, "rb") as handle:
            return handle.read(_SAMPLE_BYTES)
    except (OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError) as exc:
        raise DataError(f"cannot read {str(path)!r}: {exc}.") from None


def _decode(sample: bytes, path: Path, notes: list[str]) -> tuple[str, str]:
    try:
        return sample.decode("utf-8-sig"), "utf-8-sig"
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 3:  # a multi-byte character cut by the sample's end
            return sample[: exc.start].decode("utf-8-sig"), "utf-8-sig"
        notes.append(f"{path.name} is not UTF-8 (byte {exc.start}): read as Latin-1")
        return sample.decode("latin-1"), "latin-1"


def read_table(path: str | Path) -> tuple[Any, list[str]]:
    """Read ``path`` into a pandas DataFrame; returns ``(frame, notes)`` where ``notes`` says what was assumed
    (the encoding fallback, the delimiter when it was not a comma)."""
    import pandas as pd

    path, notes = _checked(path), []
    if _is_parquet(path):
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow's errors have no common base
            raise DataError(f"{str(path)!r} is not a readable Parquet file: {exc}.") from None
        return _non_empty(frame, path), notes
    if _kind(path) != "csv":
        return _non_empty(_read_other(path, _kind(path)), path), notes
    options = _csv_options(path, notes)
    with _csv_errors(path):
        frame = pd.read_csv(path, **options)
    return _non_empty(frame, path), notes


def read_table_chunks(path: str | Path, rows: int, text_columns: Iterable[str] = ()) -> tuple[Iterator[Any], list[str]]:
    """Read ``path`` ``rows`` rows at a time, so memory stays bounded however big the file is; returns
    ``(frames, notes)``. Each frame keeps the row numbers of the whole file as its index. ``text_columns`` are
    read as text in every chunk (a chunk of only digits would otherwise turn a text column into numbers)."""
    import pandas as pd

    path, notes = _checked(path), []
    if _is_parquet(path):
        return _parquet_chunks(path, rows), notes
    if _kind(path) != "csv":  # JSON and workbooks are read whole (a JSON document has no row boundaries to stream)
        frame = _non_empty(_read_other(path, _kind(path)), path)
        return (frame.iloc[start : start + rows] for start in range(0, len(frame), rows)), notes
    options = _csv_options(path, notes)
    with _csv_errors(path):
        present = set(pd.read_csv(path, nrows=0, **options).columns)
        dtype = {c: "object" for c in text_columns if c in present}
        reader = pd.read_csv(path, chunksize=rows, dtype=dtype or None, **options)

    def frames() -> Iterator[Any]:
        with _csv_errors(path), reader:
            seen = 0
            for chunk in reader:
                seen += len(chunk)
                yield chunk
            if not seen:
                raise DataError(f"{str(path)!r} has a header but no rows.")

    return frames(), notes


def _holds_iso_dates(values: Any) -> bool:
    """Whether every present value of a column is text holding an ISO 8601 date or time stamp ("2024-03-01",
    "2024-03-01 14:30"): how a CSV holds dates, which it reads as text."""
    import pandas as pd

    present = values.dropna()
    if present.empty or not present.map(lambda v: isinstance(v, str)).all():
        return False
    if not present.str.match(r"\s*\d{4}-\d{1,2}-\d{1,2}").all():
        return False
    return bool(pd.to_datetime(present, format="ISO8601", errors="coerce").notna().all())


# Written dates series files hold besides ISO 8601, tried in this order: year-month, US then day-first
# numeric dates, European dotted dates, month names, Eurostat's "2018M01".
DATE_FORMATS = ("%Y-%m", "%Y/%m", "%Y/%m/%d", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%b %Y", "%B %Y", "%b-%Y",
                "%b-%y", "%Y %b", "%YM%m")  # fmt: skip
_PERIODS = {  # a period written as year and number, read as the date it starts: (pattern, example, in words)
    "quarter": (r"\s*(\d{4})\s*-?\s*Q([1-4])\s*", "2018Q1", "like 2018Q1"),  # "2018Q1", "2018 Q1", "2018-Q1"
    "week": (r"\s*(\d{4})\s*-?\s*W(\d{2})\s*", "2018 W06", "like 2018 W06 (ISO weeks)"),  # tsibble's yearweek
}


def date_format(values: Any) -> str | None:
    """The one format every present value of a text column is written in: ``"ISO8601"``, one of
    ``DATE_FORMATS`` (the first that reads them all, so "03/04/2020" is month first unless a day above 12 says
    otherwise), ``"quarter"`` for "2018Q1", ``"week"`` for ISO weeks ("2018 W06"), or None."""
    import pandas as pd

    present = values.dropna()
    head = present.iloc[:200]  # a text column of a wide table is rarely a date: ruled out on a sample first
    if head.empty or not head.map(lambda v: isinstance(v, str)).all() or not head.str.contains(r"\d").all():
        return None
    if _holds_iso_dates(head):
        return "ISO8601" if _holds_iso_dates(present) else None
    for form, (pattern, _, _) in _PERIODS.items():
        if head.str.fullmatch(pattern).all():
            text = present.map(lambda v: isinstance(v, str)).all()
            readable = text and parse_dates(present, form, errors="coerce").notna().all()  # no week 00 or 54
            return form if readable else None
    forms = [f for f in DATE_FORMATS if pd.to_datetime(head, format=f, errors="coerce").notna().all()]
    if not forms or not present.map(lambda v: isinstance(v, str)).all():
        return None
    return next((f for f in forms if pd.to_datetime(present, format=f, errors="coerce").notna().all()), None)


def written_like(form: str) -> str:
    """A format :func:`date_format` found, as a note says it: ``"like 2018Q1"`` for quarters, the format itself
    (``"%d.%m.%Y"``) otherwise."""
    return _PERIODS[form][2] if form in _PERIODS else form


def parse_dates(values: Any, form: str, errors: str = "raise") -> Any:
    """A text column as datetimes in the format :func:`date_format` found (a quarter's first day for quarters, an
    ISO week's Monday for weeks); missing cells stay missing, and with ``errors="coerce"`` so do cells in another
    format."""
    import pandas as pd

    if form not in _PERIODS:
        return pd.to_datetime(values, format=form, errors=errors)
    pattern, example, _ = _PERIODS[form]
    pieces = values.astype("string").str.extract(f"^{pattern}$")  # year, number; missing where not written so
    if form == "quarter":
        numbers = pieces.astype("float64")
        dates = pd.to_datetime(pd.DataFrame({"year": numbers[0], "month": numbers[1] * 3 - 2, "day": 1.0}),
                               errors="coerce")  # fmt: skip
    else:
        dates = pd.to_datetime(pieces[0] + "-W" + pieces[1] + "-1", format="%G-W%V-%u", errors="coerce")
    unread = values.notna() & dates.isna()  # not written so, or no such week (W54)
    if errors == "raise" and unread.any():
        raise ValueError(f"{values[unread].iloc[0]!r} is not written like {example}")
    return pd.Series(dates, index=values.index)


def holds_formatted_numbers(values: Any) -> bool:
    """Whether every present value of a column is text holding a number written with a currency symbol,
    thousands separators or a percent sign ("$1,234.50", "12.5%"), and at least one is not a plain number."""
    present = values.dropna()
    if present.empty or not present.map(lambda v: isinstance(v, str)).all():
        return False
    return bool(present.str.fullmatch(_FORMATTED_NUMBER).all() and present.str.contains(r"[$€£¥,%]").any())


def formatted_numbers(values: Any) -> Any:
    """A text column of written numbers as float64 ("$1,234.50" -> 1234.5, "12.5%" -> 12.5); cells that are no
    number are missing."""
    import pandas as pd

    text = values.astype("string").str.replace(r"[\s$€£¥,%]", "", regex=True)
    return pd.to_numeric(text, errors="coerce").astype("float64")


def _checked(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such file: {str(path)!r}.")
    if not path.is_file():
        raise DataError(f"{str(path)!r} is not a file.")
    return path


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


_KINDS = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "excel", ".xlsm": "excel", ".xls": "excel"}


def _kind(path: Path) -> str:
    """``csv``, ``json``, ``jsonl`` or ``excel``, by the name's suffix before any compression suffix."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (*_OPENERS, ".zip"):
        suffixes = suffixes[:-1]
    return _KINDS.get(suffixes[-1] if suffixes else "", "csv")


def _read_other(path: Path, kind: str) -> Any:
    """A JSON, JSON Lines or Excel file as a DataFrame; what cannot be read is a ``DataError`` saying why."""
    import pandas as pd

    if kind == "excel":
        try:
            return pd.read_excel(path)
        except ImportError as exc:
            raise DataError(f"{str(path)!r} is an Excel workbook, which needs {exc.name or 'openpyxl'}: pip install "
                            "openpyxl, or save the sheet as CSV.") from None  # fmt: skip
        except ValueError as exc:
            raise DataError(f"{str(path)!r} is not a readable Excel workbook: {str(exc).rstrip('.')}.") from None
    try:
        return pd.read_json(path, lines=kind == "jsonl", compression="infer")
    except ValueError as exc:
        layout = "one JSON object per line" if kind == "jsonl" else "a list of records or {column: {row: value}}"
        raise DataError(f"{str(path)!r} is not readable as {layout}: {str(exc).rstrip('.')}.") from None


def _parquet_chunks(path: Path, rows: int) -> Iterator[Any]:
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow's errors have no common base
        raise DataError(f"{str(path)!r} is not a readable Parquet file: {exc}.") from None
    start = 0
    for batch in source.iter_batches(batch_size=rows):
        frame = batch.to_pandas()
        frame.index = range(start, start + len(frame))
        start += len(frame)
        yield frame
    if not start:
        raise DataError(f"{str(path)!r} has a header but no rows.")


def _csv_options(path: Path, notes: list[str]) -> dict[str, Any]:
    """The delimiter, quote character and encoding of a CSV file, sniffed from its first bytes."""
    sample = _head(path)
    if not sample.strip():
        raise DataError(f"{str(path)!r} is empty.")
    if b"\0" in sample:
        raise DataError(f"{str(path)!r} is binary, not a CSV file (a NUL byte in its first bytes).")
    text, encoding = _decode(sample, path, notes)
    try:
        dialect = csv.Sniffer().sniff(text[:16_384], delimiters=_DELIMITERS)
        delimiter, quote = dialect.delimiter, dialect.quotechar or '"'
    except csv.Error:
        delimiter, quote = ",", '"'
    if delimiter != ",":
        notes.append(f"{path.name}: columns separated by {delimiter!r}")
    return {"sep": delimiter, "quotechar": quote, "encoding": encoding, "compression": "infer"}


@contextmanager
def _csv_errors(path: Path) -> Iterator[None]:
    """pandas' parser errors as a ``DataError`` naming the file."""
    import pandas as pd

    try:
        yield
    except pd.errors.EmptyDataError:
        raise DataError(f"{str(path)!r} has no columns.") from None
    except DataError:  # our own (a header with no rows): a ValueError too, already worded
        raise
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"cannot parse {str(path)!r} as CSV: {str(exc).strip().splitlines()[0]}.") from None


def _non_empty(frame: Any, path: Path) -> Any:
    if len(frame) == 0:
        raise DataError(f"{str(path)!r} has a header but no rows.")
    return frame
