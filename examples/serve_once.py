"""Start `tightfit serve RUN_DIR`, answer one HTTP request, stop it: ``python examples/serve_once.py RUN_DIR CSV``.

What a client does: POST rows as JSON records to /predict, read the model card at /model.
"""

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pandas as pd

run_dir, csv = sys.argv[1], sys.argv[2]
with socket.socket() as probe:  # a free port on this machine
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
server = subprocess.Popen([sys.executable, "-m", "tightfit.cli", "serve", run_dir, "--port", str(port), "--quiet"])
url = f"http://127.0.0.1:{port}"
try:
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("tightfit serve did not start") from None
            time.sleep(0.2)
    rows = pd.read_csv(csv).drop(columns="diagnosis", errors="ignore").head(3)
    request = urllib.request.Request(f"{url}/predict?proba=true", data=rows.to_json(orient="records").encode(),
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    started = time.perf_counter()
    answer = json.loads(urllib.request.urlopen(request, timeout=30).read())
    took = time.perf_counter() - started
    card = json.loads(urllib.request.urlopen(f"{url}/model", timeout=10).read())
    print(f"POST {url}/predict (3 rows) -> {answer['predictions']} in {took * 1000:.1f} ms")
    one_row = card["latency_one_row"]
    print(f"GET {url}/model -> {card['model']}, {len(card['columns'])} columns, one-row p50 "
          f"{one_row['p50_s'] * 1000:.2f} ms / p95 {one_row['p95_s'] * 1000:.2f} ms measured at start-up")  # fmt: skip
finally:
    server.terminate()
    server.wait(timeout=30)
