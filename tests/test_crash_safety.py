"""kill -9 of `tightfit fit` mid-run: the output folder keeps the previous complete run (everything is written at
the end, atomically, run.json last) and no guarded child outlives the killed command."""

import json
import signal
import subprocess
import sys
import time

import psutil
from sklearn.datasets import load_wine

from tightfit.cli import main
from tightfit.tabular import TabularPipeline


def _fit(csv, out, models) -> list[str]:
    """The arguments of `tightfit fit` on ``csv`` with ``models``, written to ``out``."""
    return ["fit", str(csv), "--target", "y", "--models", models, "--out", str(out), "--quiet"]


def _guarded(command: psutil.Process) -> list[psutil.Process]:
    """The command's guard processes: the warm fork server and the children it forked (or fresh children)."""
    found = []
    for proc in command.children(recursive=True):
        try:
            if "tightfit._guard_" in " ".join(proc.cmdline()):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


def _at_work(guarded: list[psutil.Process]) -> bool:
    """A child is running a candidate: forked by the server (its parent is guard code too) or a fresh child."""
    pids = {p.pid for p in guarded}
    try:
        return any(p.ppid() in pids or "tightfit._guard_child" in " ".join(p.cmdline()) for p in guarded)
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False


def test_kill_9_mid_run_keeps_the_previous_run_and_leaves_no_child(tmp_path):
    data = load_wine(as_frame=True)
    frame = data.frame.rename(columns={"target": "y"})
    frame.to_csv(tmp_path / "wine.csv", index=False)
    out = tmp_path / "run"
    assert main(_fit(tmp_path / "wine.csv", out, "logistic regression")) == 0  # the previous run, made here
    before = (out / "run.json").read_text()
    model_bytes = {p.name: p.read_bytes() for p in (out / "model").iterdir()}

    slow = subprocess.Popen(
        [sys.executable, "-m", "tightfit.cli", *_fit(tmp_path / "wine.csv", out, "tinytfm full ft,tinytfm lora")]
    )
    command = psutil.Process(slow.pid)
    deadline = time.monotonic() + 120
    children = []
    while time.monotonic() < deadline and not _at_work(children):  # wait until a guarded child is at work
        children = _guarded(command)
        time.sleep(0.2)
    assert children, "the second run never started a candidate"
    time.sleep(2)
    slow.send_signal(signal.SIGKILL)
    slow.wait()
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], f"guarded children outlived the killed command: {alive}"
    assert (out / "run.json").read_text() == before
    assert {p.name: p.read_bytes() for p in (out / "model").iterdir()} == model_bytes
    assert json.loads(before)["chosen"] == "LogisticRegression"
    assert TabularPipeline.load(out / "model").predict(frame.drop(columns="y").head(3)).shape == (3,)
