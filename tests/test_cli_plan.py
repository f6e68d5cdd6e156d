"""`tightfit triage` and `tightfit plan` on a bundled workload: binding constraint and a chosen config."""

import json
from pathlib import Path

import pytest

from tightfit.cli import main

ROOT = Path(__file__).resolve().parents[1]  # examples.plan_workload lives here (the entry point's own process is
# tested in test_cli.py; these run main() in-process, which spares an interpreter and its imports)


@pytest.fixture
def run(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(ROOT))

    def call(*args):
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return call


def test_triage_names_memory_when_the_budget_is_tiny(run):
    code, out, err = run("triage", "--model", "examples.plan_workload:make", "--budget", "memory=100MB,device=cpu",
                         "--config", "micro_batch=64")  # fmt: skip
    assert code == 0, err
    assert "binding constraint: memory" in out and "> budget 100MB" in out
    # below the interpreter's own memory no technique helps: none is offered
    assert "the training process alone" in out and "raise the memory budget" in out and "1. precision" not in out


def test_model_is_imported_from_the_working_folder_and_a_bad_spec_is_named(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_workload.py").write_text(SLOW_WORKLOAD.replace("time.sleep(0.25)", "pass"))
    monkeypatch.chdir(tmp_path)  # as a user runs `tightfit triage --model my_workload:make` beside the file
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p not in ("", str(tmp_path))])
    assert main(["triage", "--model", "my_workload:make", "--budget", "time=1h,device=cpu"]) == 0
    assert "binding constraint: none" in capsys.readouterr().out
    for spec, words in [("no_such_module:make", "no module 'no_such_module' importable from"),
                        ("my_workload:missing", "'missing' is not defined in"),
                        ("my_workload:Slow.forward", "'Slow.forward' is not defined"),
                        ("my_workload:", "must look like 'package.module:callable'")]:  # fmt: skip
        assert main(["triage", "--model", spec]) == 2
        assert words in capsys.readouterr().err


def test_plan_prints_the_table_and_the_choice(tmp_path, run):
    code, out, err = run("plan", "--model", "examples.plan_workload:make", "--budget", "time=10min,device=cpu",
                         "--config", "micro_batch=64,epochs=1", "--plot", str(tmp_path / "p.png"), "--out",
                         str(tmp_path / "run"))  # fmt: skip
    assert code == 0, err
    assert "chosen: TrainConfig(" in out and "fits" in out
    assert (tmp_path / "p.png").stat().st_size > 5000
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["command"] == "plan" and record["budget_text"] == "time=10min,device=cpu" and record["ignored"] == []
    assert record["chosen_config"]["micro_batch"] >= 1 and (tmp_path / "run" / "leaderboard.csv").exists()


SLOW_WORKLOAD = '''
import time

import numpy as np
import torch
from torch import nn


class Slow(nn.Module):
    """An MLP whose every forward pass takes 0.25 s: a trial of a few steps takes seconds."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 4))

    def forward(self, x):
        time.sleep(0.25)
        return self.net(x)


def make():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    return Slow(), (rng.normal(size=(512, 16)).astype(np.float32), rng.integers(0, 4, 512))
'''


def test_plan_time_bounds_the_planning_and_keeps_the_configs_measured_by_then(tmp_path, monkeypatch, capsys):
    import time

    from tightfit import guard

    (tmp_path / "slow_workload.py").write_text(SLOW_WORKLOAD)
    monkeypatch.syspath_prepend(str(tmp_path))
    guard.run_measured(int)  # the warm server is up: its start-up belongs to the process, not to this budget
    began = time.perf_counter()
    code = main(["plan", "--model", "slow_workload:make", "--budget", "time=1h,device=cpu", "--config",
                 "micro_batch=32,epochs=1", "--time", "8s", "--out", str(tmp_path / "run"), "--quiet"])  # fmt: skip
    elapsed = time.perf_counter() - began
    assert elapsed <= 1.02 * 8 + 2, f"{elapsed:.1f} s for an 8 s planning budget"
    assert code == 0 and "chosen: TrainConfig(" in capsys.readouterr().out  # a trial finished in time: kept
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    verdicts = [e["verdict"] for e in record["entries"]]
    assert [v["status"] for v in verdicts].count("chosen") == 1
    cut = [v for v in verdicts if v["limit"] == "time" and v["status"] in ("skipped", "over_limit")]
    assert cut and all("left of 8s" in v["reason"] or "it was given" in v["reason"] for v in cut)
