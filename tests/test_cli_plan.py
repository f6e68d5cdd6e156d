"""`tightfit triage` and `tightfit plan` on a bundled workload: binding constraint and a chosen config."""

import json
import subprocess
import sys


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "tightfit.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PYTHONPATH": ".", "PATH": ""},
    )


def test_triage_names_memory_when_the_budget_is_tiny():
    out = run(
        "triage",
        "--model",
        "examples.plan_workload:make",
        "--budget",
        "memory=100MB,device=cpu",
        "--config",
        "micro_batch=64",
    )
    assert out.returncode == 0, out.stderr
    assert "binding constraint: memory" in out.stdout and "> budget 100MB" in out.stdout


def test_plan_prints_the_table_and_the_choice(tmp_path):
    out = run(
        "plan",
        "--model",
        "examples.plan_workload:make",
        "--budget",
        "time=10min,device=cpu",
        "--config",
        "micro_batch=64,epochs=1",
        "--plot",
        str(tmp_path / "p.png"),
        "--out",
        str(tmp_path / "run"),
    )
    assert out.returncode == 0, out.stderr
    assert "chosen: TrainConfig(" in out.stdout and "fits" in out.stdout
    assert (tmp_path / "p.png").stat().st_size > 5000
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["command"] == "plan" and record["budget_text"] == "time=10min,device=cpu" and record["ignored"] == []
    assert record["chosen_config"]["micro_batch"] >= 1 and (tmp_path / "run" / "leaderboard.csv").exists()
