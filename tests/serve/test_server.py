"""`tightfit serve` for real on 127.0.0.1: concurrent requests answered correctly, bad ones rejected with 422
naming the column, and the server still answering after them."""

import http.client
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest


@pytest.fixture(scope="module")
def server(fitted, tmp_path_factory):
    import uvicorn

    from tightfit.budget import Budget
    from tightfit.serve.app import make_app

    run = tmp_path_factory.mktemp("run")
    fitted["LightGBM"].save(run / "model")
    (run / "run.json").write_text(json.dumps({"budget": Budget(latency="1ms").to_dict()}))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(make_app(run), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start within 20 s"
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(10)


def _request(port, method, path, body=None, content_type="application/json"):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        payload = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        connection.request(method, path, body=payload, headers={"Content-Type": content_type})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def _records(frame):
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def test_500_concurrent_requests_over_8_connections_all_answer_correctly(server, fitted, mixed):
    _, _, X_test, _ = mixed
    expected = fitted["LightGBM"].predict(X_test)
    rows = [(i % len(X_test), 1 + i % 4) for i in range(500)]  # 1 to 4 rows per request

    def ask(start_rows):
        start, n = start_rows
        chunk = X_test.iloc[start : start + n]
        status, answer = _request(server, "POST", "/predict", _records(chunk))
        assert status == 200, answer
        return status, answer["predictions"], list(expected[start : start + n])

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, rows))
    assert all(status == 200 for status, _, _ in answers)
    assert all(got == want for _, got, want in answers)


def test_probabilities_csv_bodies_health_and_the_model_card(server, fitted, mixed):
    _, _, X_test, _ = mixed
    status, answer = _request(server, "POST", "/predict?proba=true", _records(X_test.head(3)))
    assert status == 200 and answer["classes"] == ["benign", "malignant"]
    np.testing.assert_allclose(answer["probabilities"], fitted["LightGBM"].predict_proba(X_test.head(3)), atol=1e-9)
    csv_body = X_test.head(5).to_csv(index=False).encode()
    status, answer = _request(server, "POST", "/predict", csv_body, content_type="text/csv")
    assert status == 200 and answer["predictions"] == list(fitted["LightGBM"].predict(X_test.head(5)))
    assert _request(server, "GET", "/health") == (200, {"status": "ok"})
    status, card = _request(server, "GET", "/model")
    assert status == 200 and card["model"] == "LightGBM" and card["task"] == "classification"
    assert {"name": "site", "kind": "categorical"} in card["columns"]
    measured = card["latency_budget"]
    assert measured["limit_s"] == 0.001 and measured["within"] == (measured["p95_s"] <= 0.001) and measured["p95_s"] > 0


def test_malformed_requests_get_422_naming_the_problem_and_the_server_goes_on(server, mixed):
    _, _, X_test, _ = mixed
    status, answer = _request(server, "POST", "/predict", _records(X_test.drop(columns="site").head(2)))
    assert status == 422 and "site" in answer["detail"]
    bad = _records(X_test.head(2))
    bad[1]["mean radius"] = "twelve"
    status, answer = _request(server, "POST", "/predict", bad)
    assert status == 422 and "'mean radius' was numeric" in answer["detail"] and "twelve" in answer["detail"]
    assert _request(server, "POST", "/predict", b"{not json")[0] == 422
    assert _request(server, "POST", "/predict", {"rows": 3})[0] == 422
    assert _request(server, "POST", "/predict", b"")[0] == 422
    assert _request(server, "GET", "/health") == (200, {"status": "ok"})


def test_the_json_layouts_serving_tools_send_are_read(server, fitted, mixed):
    """KServe / TF Serving "instances", MLflow "dataframe_records" and "dataframe_split", pandas' split layout."""
    _, _, X_test, _ = mixed
    rows = X_test.head(3)
    expected = list(fitted["LightGBM"].predict(rows))
    split = json.loads(rows.to_json(orient="split", index=False, date_format="iso"))
    bodies = [{"instances": _records(rows)}, {"dataframe_records": _records(rows)}, {"dataframe_split": split}, split]
    for body in bodies:
        status, answer = _request(server, "POST", "/predict", body)
        assert (status, answer["predictions"]) == (200, expected), body
    assert _request(server, "POST", "/predict", _records(rows)[0])[1]["predictions"] == expected[:1]  # one record
    status, answer = _request(server, "POST", "/predict", {"rows": _records(rows)})
    assert status == 422 and '"instances"' in answer["detail"] and '"dataframe_split"' in answer["detail"]
    ragged = {"columns": split["columns"], "data": [split["data"][0][:-1]]}
    status, answer = _request(server, "POST", "/predict", ragged)
    assert status == 422 and f"{len(split['columns'])} values, one per column" in answer["detail"]
