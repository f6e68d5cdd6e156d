"""`tightfit serve`: a saved run as an HTTP endpoint (FastAPI on uvicorn).

    POST /predict   JSON records (a list; or under "records", "instances", "dataframe_records"; or pandas'
                    split layout {"columns", "data"}, also as MLflow's "dataframe_split") or a CSV body
                    (Content-Type: text/csv);
                    ?proba=true adds the class probabilities; ?interval=0.8 a regression model's (TinyTFM's,
                    or that of one AutoFit chose) central 80% interval as "lower" and "upper". Rows are checked
                    against the training columns: a missing column or a value of the wrong kind is HTTP 422
                    naming the column.
    GET  /health    {"status": "ok"}
    GET  /model     the model card: columns, task, classes, the run's budget and measured figures, and the
                    one-row latency measured here at start-up against the budget's latency limit

Predictions run one at a time (a lock): a model's own threads already use the cores, and concurrent calls
would only contend for them and for memory. A request that fails answers with its error and the server goes on.
This module imports FastAPI: :mod:`tightfit.serve` loads it only when serving.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from tightfit.errors import DataError, TightfitError

__all__ = ["MAX_BODY_BYTES", "make_app", "model_card", "serve"]

MAX_BODY_BYTES = 64 * 2**20  # larger bodies get HTTP 413: big files go through `tightfit predict`
log = logging.getLogger(__name__)


def model_card(run_dir: str | Path, pipe: Any) -> dict[str, Any]:
    """What a client needs to call the model, and what the run measured; the serving latency is measured
    now, on this machine, on a one-row request of missing values (every model accepts those)."""
    import numpy as np
    import pandas as pd

    from tightfit.budget import Budget
    from tightfit.measure import latency

    processor = pipe.processor_
    row = pd.DataFrame({c: [np.nan] for c in processor.columns_})
    timed = latency(pipe.predict, row, warmup=3, min_time_s=0.3, max_repeats=200)
    run = _run_json(Path(run_dir))
    budget = Budget(**run["budget"]) if isinstance(run.get("budget"), dict) else pipe.budget
    card: dict[str, Any] = {
        "model": pipe.model_name,
        "task": pipe.task_type,
        "columns": [{"name": str(c), "kind": processor.kinds_[c]} for c in processor.columns_],
        "budget": str(budget),
        "latency_one_row": {"p50_s": timed.p50_s, "p95_s": timed.p95_s, "repeats": timed.n_repeats},
    }
    if pipe.task_type == "classification":
        card["classes"] = [_plain(c) for c in pipe.classes_]
        card["decision"] = pipe.decision
    if budget.latency is not None:
        within = timed.p95_s <= budget.latency
        card["latency_budget"] = {"limit_s": budget.latency, "p95_s": timed.p95_s, "within": within}
        if not within:
            log.warning("one-row p95 %.4f s is over the latency budget %.4f s", timed.p95_s, budget.latency)
    chosen = [e for e in run.get("entries", []) if e.get("name") == run.get("chosen")]
    if chosen:
        card["measured_in_search"] = {"entry": chosen[0]["name"], **(chosen[0].get("measured") or {})}
    return card


def make_app(run_dir: str | Path, trust: bool = False, device: str = "auto"):
    """The FastAPI application serving the run at ``run_dir`` (loaded once, here)."""
    from tightfit import __version__
    from tightfit.serve.loading import load_table_model
    from tightfit.serve.predict import predict_frame

    pipe = load_table_model(run_dir, trust=trust, device=device)
    card = model_card(run_dir, pipe)
    lock = threading.Lock()
    app = FastAPI(title=f"tightfit: {pipe.model_name}", version=__version__)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/model")
    def model() -> dict[str, Any]:
        return card

    @app.post("/predict")
    async def predict(request: Request, proba: bool = False, interval: float | None = None):
        size = int(request.headers.get("content-length") or 0)
        if size > MAX_BODY_BYTES:
            return JSONResponse({"detail": f"body of {size} bytes is over {MAX_BODY_BYTES}; use tightfit predict"},
                                status_code=413)  # fmt: skip
        body = await request.body()
        try:
            frame = _rows(body, request.headers.get("content-type", ""), pipe)

            def work():
                with lock:
                    return predict_frame(pipe, frame, proba, interval)

            result = await run_in_threadpool(work)
        except (TightfitError, ValueError) as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)
        answer: dict[str, Any] = {"predictions": [_plain(v) for v in result["prediction"]]}
        if interval is not None:
            answer["lower"], answer["upper"] = result["lower"].tolist(), result["upper"].tolist()
        if proba:
            answer["classes"] = card["classes"]
            answer["probabilities"] = result.drop(columns="prediction").to_numpy().tolist()
        return answer

    return app


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, trust: bool = False,
          verbose: bool = True) -> None:  # fmt: skip
    """Run the endpoint until Ctrl-C."""
    import uvicorn

    from tightfit.params import Interval, check

    check("serve", port=(port, Interval(int, 0, 65535)))
    app = make_app(run_dir, trust=trust)
    uvicorn.run(app, host=host, port=port, log_level="info" if verbose else "warning")


def _rows(body: bytes, content_type: str, pipe: Any):
    """The request's rows as a DataFrame: CSV when the content type says so, JSON records otherwise."""
    import pandas as pd

    if not body.strip():
        raise DataError("the request has no body; send JSON records or CSV rows.")
    if "csv" in content_type:
        header = pd.read_csv(io.BytesIO(body), nrows=0).columns
        text = {c: "object" for c in pipe.processor_.text_columns_ if c in header}
        return pd.read_csv(io.BytesIO(body), dtype=text or None)
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"the body is not valid JSON ({exc}); send a list of records or CSV.") from None
    return _frame(data)


_RECORD_KEYS = ("records", "instances", "dataframe_records", "inputs")  # ours, KServe/TF Serving, MLflow, others
_ACCEPTED = (
    'JSON records: [{"column": value, ...}, ...], or that list under "records", "instances" or '
    '"dataframe_records", or {"columns": [...], "data": [[...], ...]} (also under "dataframe_split")'
)


def _frame(data: Any):
    """Rows from the JSON bodies serving tools send: a list of records or one record, a list under one of
    ``_RECORD_KEYS``, or pandas' "split" layout (MLflow's ``dataframe_split``)."""
    import pandas as pd

    if isinstance(data, dict):
        envelope = [k for k in (*_RECORD_KEYS, "dataframe_split") if k in data]
        if envelope:
            data = data[envelope[0]]
        if isinstance(data, dict) and {"columns", "data"} <= set(data):
            columns, rows = data["columns"], data["data"]
            if not (isinstance(columns, list) and isinstance(rows, list) and rows
                    and all(isinstance(r, list) and len(r) == len(columns) for r in rows)):  # fmt: skip
                raise DataError(f'"data" must be a non-empty list of rows of {len(columns)} values, one per column.')
            return pd.DataFrame(rows, columns=columns)
    records = [data] if isinstance(data, dict) else data
    if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
        raise DataError(f"send {_ACCEPTED}.")
    nested = [key for key, value in records[0].items() if isinstance(value, (list, dict))]
    if nested:  # an envelope this server does not know, not a record: a record's values are single values
        held = type(records[0][nested[0]]).__name__
        raise DataError(f"a record holds single values, but {nested[0]!r} holds a {held}; send {_ACCEPTED}.")
    return pd.DataFrame.from_records(records)


def _run_json(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "run.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        log.warning("%s is unreadable; the model card leaves out the run's figures", path)
        return {}


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
