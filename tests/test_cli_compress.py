"""`tightfit compress MODEL_PATH --inputs sample.npy`: prints the table, writes the report and the chosen
artefact with its sidecar; bad arguments are named."""

import json

import numpy as np
import pytest
import torch

from tightfit.cli import main
from tightfit.compress import load_exported


@pytest.fixture
def saved_model(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(20, 128), torch.nn.ReLU(), torch.nn.Linear(128, 5)).eval()
    torch.save(model, tmp_path / "model.pt")
    np.save(tmp_path / "sample.npy", np.random.default_rng(0).normal(size=(32, 20)))
    return model, tmp_path


def test_compress_cli_writes_report_and_the_chosen_artefact(saved_model, capsys):
    model, folder = saved_model
    out = folder / "run"
    arguments = [
        "compress", str(folder / "model.pt"), "--inputs", str(folder / "sample.npy"), "--max-drop", "1%",
        "--techniques", "dynamic_int8,onnx", "--batch-sizes", "1,8", "--out", str(out), "--quiet",
    ]  # fmt: skip
    assert main(arguments) == 2  # a torch.save'd module is a pickle: refused unless trusted
    assert "--trust" in capsys.readouterr().err and not out.exists()
    code = main([*arguments, "--trust"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "dynamic_int8" in printed and "chosen:" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["max_quality_drop"] == 0.01 and report["batch_sizes"] == [1, 8]
    assert [v["name"] for v in report["variants"]][1:] == ["dynamic_int8", "onnx"]
    artefact = next(out.glob("best.*[!n]"))  # best.onnx or best.pt, not the .json sidecar
    runner, meta = load_exported(artefact)
    assert meta["name"] == report["best"]
    x = torch.randn(4, 20)
    np.testing.assert_allclose(np.asarray(runner(x)), model(x).detach().numpy(), atol=0.05)
    assert (out / "pareto.png").stat().st_size > 5_000
    run = json.loads((out / "run.json").read_text())  # the common report, as every command writes it
    assert run["command"] == "compress" and run["chosen"] == report["best"] and run["binding"]["binding"] == "none"
    assert "load_exported" in (out / "report.html").read_text() and len((out / "leaderboard.csv").read_text()) > 0


def test_compress_cli_names_bad_arguments(saved_model, capsys):
    _, folder = saved_model
    assert main(["compress", str(folder / "model.pt"), "--inputs", str(folder / "none.npy"), "--trust"]) == 2
    assert "--inputs" in capsys.readouterr().err
    bad_drop = ["compress", str(folder / "model.pt"), "--inputs", str(folder / "sample.npy"), "--max-drop", "x"]
    assert main([*bad_drop, "--trust"]) == 2
    assert "--max-drop" in capsys.readouterr().err


MODULE = """
import torch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(8, 16, batch_first=True)
        self.head = torch.nn.Linear(16, 2)

    def forward(self, x):
        return self.head(self.lstm(x)[0][:, -1])
"""


def test_a_pickled_module_loads_where_its_class_imports_and_is_a_named_error_elsewhere(tmp_path, monkeypatch, capsys):
    import importlib
    import sys

    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir(), elsewhere.mkdir()
    (project / "user_net.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(project))
    torch.manual_seed(0)
    torch.save(importlib.import_module("user_net").Net().eval(), project / "net.pt")
    np.save(project / "x.npy", np.random.default_rng(0).normal(size=(8, 5, 8)).astype(np.float32))
    monkeypatch.delitem(sys.modules, "user_net")
    monkeypatch.setattr("sys.path", [p for p in sys.path if p not in ("", str(project))])
    arguments = ["compress", str(project / "net.pt"), "--inputs", str(project / "x.npy"), "--trust",
                 "--techniques", "dynamic_int8", "--batch-sizes", "1", "--quiet"]  # fmt: skip
    monkeypatch.chdir(elsewhere)
    assert main([*arguments, "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "DataError" in err and "user_net" in err and "torch.jit.script(model).save(path)" in err
    monkeypatch.chdir(project)  # where the user works: the class imports as it did when they saved it
    assert main([*arguments, "--out", str(tmp_path / "b")]) == 0
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    quantized = next(v for v in report["variants"] if v["name"] == "dynamic_int8")
    assert quantized["details"]["quantized_layers"] == 2  # the LSTM and the head
