"""Predict with a fitted pipeline: a frame of rows (the server) or a file of any size, in chunks (`predict`).

A file is read ``chunk_rows`` rows at a time and its predictions are written as they come, so memory stays
bounded however many rows it has; the output file appears whole or not at all. Columns the model was not
fitted on are ignored with a note; a missing column, or a value of the wrong kind in a numeric, boolean or
datetime column, is a :class:`~tightfit.errors.DataError` naming the column, the value and its row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tightfit.errors import ConfigError
from tightfit.params import Interval, check

__all__ = ["PredictSummary", "predict_file", "predict_frame"]


@dataclass
class PredictSummary:
    """What :func:`predict_file` did: rows predicted, where they went, notes, and the measured seconds."""

    rows: int
    out: Path
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def predict_frame(pipe: Any, frame: Any, proba: bool = False, interval: float | None = None) -> Any:
    """A DataFrame of predictions, one row per row of ``frame`` (same index): ``prediction``; with ``proba``
    one ``proba_<class>`` column per class; with ``interval`` (a regression model's coverage, e.g. 0.8) the
    columns ``lower`` and ``upper`` of that central interval."""
    import pandas as pd

    if proba and pipe.task_type != "classification":
        raise ConfigError("proba=True (--proba) needs a classification model; this one does regression.")
    if interval is not None:
        bounds = pipe.predict_interval(frame, interval)
        return pd.DataFrame({"prediction": pipe.predict(frame), "lower": bounds[:, 0], "upper": bounds[:, 1]},
                            index=frame.index)  # fmt: skip
    if not proba or pipe.task_type != "classification":
        return pd.DataFrame({"prediction": pipe.predict(frame)}, index=frame.index)
    from tightfit.tabular.decision import decide

    probabilities = pipe.predict_proba(frame)
    labels = decide(probabilities, pipe.classes_, pipe.decision, pipe.priors_)
    out = pd.DataFrame({"prediction": labels}, index=frame.index)
    for k, name in enumerate(pipe.classes_):
        out[f"proba_{name}"] = probabilities[:, k]
    return out


def predict_file(
    pipe: Any,
    data: str | Path,
    out: str | Path,
    proba: bool = False,
    chunk_rows: int = 50_000,
    verbose: bool = True,
    interval: float | None = None,
) -> PredictSummary:
    """Predict every row of ``data`` (CSV, compressed CSV or Parquet) into the CSV ``out`` (columns as in
    :func:`predict_frame`)."""
    from tightfit.files import atomic_path
    from tightfit.progress import StepProgress
    from tightfit.read import read_table_chunks

    check("predict_file", chunk_rows=(chunk_rows, Interval(int, 1)), proba=(proba, bool), verbose=(verbose, bool),
          interval=(interval, None, Interval(float, 0, 1, closed="neither")))  # fmt: skip
    if interval is not None:  # before any row is read
        pipe.check_intervals()
    processor = pipe.processor_
    chunks, notes = read_table_chunks(data, chunk_rows, text_columns=processor.text_columns_)
    started, rows = time.perf_counter(), 0
    with atomic_path(out) as tmp, StepProgress(_row_estimate(Path(data)), verbose, "predicting") as bar:
        for chunk in chunks:
            if rows == 0 and (note := processor.ignored_note(chunk)):
                notes.append(note)
            predict_frame(pipe, chunk, proba, interval).to_csv(tmp, mode="a", header=rows == 0, index=False)
            rows += len(chunk)
            bar.advance(rows / max(time.perf_counter() - started, 1e-9), amount=len(chunk), unit="rows")
    return PredictSummary(rows, Path(out), notes, time.perf_counter() - started)


def _row_estimate(path: Path) -> int | None:
    """Rows in the file, for the progress bar: Parquet says; a plain CSV's newlines are counted (quoted line
    breaks make it an upper bound); a compressed file is not read twice (None: the bar shows the rate only)."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(path).metadata.num_rows
        except Exception:  # an unreadable file is reported by the reader itself
            return None
    if suffix in (".gz", ".bz2", ".xz", ".zip"):
        return None
    with open(path, "rb") as handle:
        lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
    return max(lines - 1, 1)
