"""`tightfit serve` under load: request latency over HTTP against predicting in the process, side by side.

For each model (LightGBM and the shipped TinyTFM, fitted on breast_cancer and saved like `tightfit fit` saves),
`tightfit serve` runs in its own process on 127.0.0.1 and answers 500 requests (1 row each, then 32 rows each)
over 1 connection, then over 8 concurrent ones; every answer is checked against the pipeline's own
predictions. Reported: request p50/p95 and throughput over HTTP, the in-process predict p50 of the same rows
(``tightfit.measure.latency``), and their ratio (what HTTP, JSON and, with 8 connections, queueing behind the
predict lock add). Median of 3 repeats.
"""

from __future__ import annotations

import http.client
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from _common import machine, write
from sklearn.datasets import load_breast_cancer

from tightfit.measure import latency
from tightfit.tabular import TabularPipeline

REQUESTS, CONNECTIONS, REPEATS = 500, 8, 3


def _server(run_dir: Path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "tightfit.cli", "serve", str(run_dir), "--port", str(port), "--quiet"]
    server = subprocess.Popen(command)
    while True:
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/health")
            return server, port
        except OSError:
            if server.poll() is not None:
                raise SystemExit("tightfit serve did not start") from None
            time.sleep(0.2)


def _load(port: int, bodies: list[bytes], connections: int) -> tuple[list[float], float, list[list]]:
    local = threading.local()

    def ask(body: bytes):
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        started = time.perf_counter()
        local.connection.request("POST", "/predict", body=body, headers={"Content-Type": "application/json"})
        answer = json.loads(local.connection.getresponse().read())
        return time.perf_counter() - started, answer["predictions"]

    started = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        results = list(pool.map(ask, bodies))
    return [r[0] for r in results], time.perf_counter() - started, [r[1] for r in results]


def main() -> None:
    data = load_breast_cancer(as_frame=True)
    X, y = data.frame.drop(columns="target"), np.where(data.target == 1, "benign", "malignant")
    X_train, y_train, X_test = X.iloc[::2], y[::2], X.iloc[1::2].reset_index(drop=True)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in ("LightGBM", "TinyTFM"):
            pipe = TabularPipeline(model_name=name).fit(X_train, y_train)
            run_dir = Path(folder) / name
            pipe.save(run_dir / "model")
            server, port = _server(run_dir)
            for batch, connections in ((1, 1), (32, 1), (1, CONNECTIONS), (32, CONNECTIONS)):
                starts = [(i * batch) % (len(X_test) - batch) for i in range(REQUESTS)]
                frames = [X_test.iloc[s : s + batch] for s in starts]
                bodies = [f.to_json(orient="records").encode() for f in frames]
                expected = [list(pipe.predict(f)) for f in frames]
                p50, p95, rate = [], [], []
                for _ in range(REPEATS):
                    seconds, wall, answers = _load(port, bodies, connections)
                    assert answers == expected, f"{name}: an answer differs from the pipeline's predictions"
                    p50.append(float(np.percentile(seconds, 50)))
                    p95.append(float(np.percentile(seconds, 95)))
                    rate.append(REQUESTS / wall)
                local = latency(pipe.predict, frames[0]).p50_s
                rows.append({
                    "model": name, "rows_per_request": batch, "connections": connections,
                    "http_p50_s": statistics.median(p50), "http_p95_s": statistics.median(p95),
                    "requests_per_s": statistics.median(rate),
                    "in_process_p50_s": local, "http_over_in_process_p50": statistics.median(p50) / local,
                })  # fmt: skip
            server.terminate()
            server.wait(30)
    print(f"tightfit serve: {REQUESTS} requests per row, median of {REPEATS} "
          f"(torch threads {torch.get_num_threads()})")  # fmt: skip
    print(
        "| model | rows/request | connections | HTTP p50 | HTTP p95 | requests/s | in-process p50 | HTTP / in-process |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['model']} | {r['rows_per_request']} | {r['connections']} | {r['http_p50_s'] * 1e3:.1f} ms | "
              f"{r['http_p95_s'] * 1e3:.1f} ms | {r['requests_per_s']:.0f} | {r['in_process_p50_s'] * 1e3:.1f} ms | "
              f"{r['http_over_in_process_p50']:.1f}x |")  # fmt: skip
    write("serve", {"machine": machine(), "requests": REQUESTS, "connections": CONNECTIONS, "rows": rows,
                    "torch_threads": torch.get_num_threads(), "argv": sys.argv})  # fmt: skip


if __name__ == "__main__":
    main()
