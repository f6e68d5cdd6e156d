"""read_table: files as people have them. Delimiters and quoting are sniffed, UTF-8 with or without a BOM and a
Latin-1 fallback are read (with a note), compressed CSV and Parquet work, and an empty, binary or missing file
is a DataError naming the file and the reason."""

import gzip
import zipfile

import pandas as pd
import pytest

from tightfit.errors import DataError
from tightfit.read import read_table

TABLE = pd.DataFrame({"city": ["Zürich", "Köln", "Paris, Ville"], "price": [1.5, 2.0, 3.25], "y": ["a", "b", "a"]})


@pytest.mark.parametrize(("sep", "note"), [(",", None), (";", "';'"), ("\t", "'\\t'"), ("|", "'|'")])
def test_delimiters_are_sniffed(tmp_path, sep, note):
    path = tmp_path / "t.csv"
    TABLE.to_csv(path, sep=sep, index=False)
    frame, notes = read_table(path)
    pd.testing.assert_frame_equal(frame, TABLE)
    assert (note is None and notes == []) or (note in notes[0])


def test_encodings_bom_and_latin1(tmp_path):
    TABLE.to_csv(tmp_path / "bom.csv", index=False, encoding="utf-8-sig")
    frame, notes = read_table(tmp_path / "bom.csv")
    assert list(frame.columns) == ["city", "price", "y"] and notes == []
    TABLE.to_csv(tmp_path / "latin.csv", index=False, encoding="latin-1")
    frame, notes = read_table(tmp_path / "latin.csv")
    assert frame["city"].tolist() == TABLE["city"].tolist() and "read as Latin-1" in notes[0]


def test_compressed_and_parquet(tmp_path):
    with gzip.open(tmp_path / "t.csv.gz", "wt", encoding="utf-8") as handle:
        TABLE.to_csv(handle, sep=";", index=False)
    pd.testing.assert_frame_equal(read_table(tmp_path / "t.csv.gz")[0], TABLE)
    with zipfile.ZipFile(tmp_path / "t.zip", "w") as archive:
        archive.writestr("inner.csv", TABLE.to_csv(index=False))
    pd.testing.assert_frame_equal(read_table(tmp_path / "t.zip")[0], TABLE)
    TABLE.to_parquet(tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(read_table(tmp_path / "t.parquet")[0], TABLE)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "is empty"), (b"\n\n  \n", "is empty"), (b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "is binary"),
     (b"a,b,y\n", "no rows")],
)  # fmt: skip
def test_unusable_files_are_named(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        read_table(path)
    assert "bad.csv" in str(info.value)
    with pytest.raises(DataError, match="no such file"):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        read_table(tmp_path / "x.parquet")


def test_json_records_json_lines_and_their_chunks(tmp_path):
    from tightfit.read import read_table_chunks

    TABLE.to_json(tmp_path / "t.json", orient="records", force_ascii=False)
    TABLE.to_json(tmp_path / "columns.json")  # pandas' default layout: {column: {row: value}}
    TABLE.to_json(tmp_path / "t.jsonl", orient="records", lines=True)
    with gzip.open(tmp_path / "t.ndjson.gz", "wt", encoding="utf-8") as handle:
        TABLE.to_json(handle, orient="records", lines=True)
    for name in ("t.json", "columns.json", "t.jsonl", "t.ndjson.gz"):
        frame, notes = read_table(tmp_path / name)
        pd.testing.assert_frame_equal(frame, TABLE, check_index_type=False)
        assert notes == [], name
    chunks, _ = read_table_chunks(tmp_path / "t.jsonl", rows=2)
    assert [len(c) for c in chunks] == [2, 1]
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n{"a": oops}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl' is not readable as one JSON object per line"):
        read_table(tmp_path / "bad.jsonl")
    (tmp_path / "sheet.xlsx").write_bytes(b"not a workbook")
    workbook = r"sheet\.xlsx' is (not a readable Excel workbook|an Excel workbook, which needs)"
    with pytest.raises(DataError, match=workbook):
        read_table(tmp_path / "sheet.xlsx")
