"""The engine under ``torchrun``: 2 gloo ranks reproduce a 1-process run with the same global batch, agree on
an out-of-memory back-off, write files from rank 0 only, stop together when one rank fails, and resume
bit-exact from the last checkpoint. The ranks are real processes launched by torchrun (tests/train/ddp_worker.py)."""

import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from sklearn.datasets import load_digits

from tightfit.errors import ConfigError
from tightfit.train import TrainConfig, Trainer

WORKER = Path(__file__).with_name("ddp_worker.py")
GLOBAL_BATCH = 32


def _launch(out: Path, data: Path, *args: str) -> subprocess.CompletedProcess:
    out.mkdir(parents=True, exist_ok=True)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [*launcher, str(WORKER), str(out), str(data), *args]
    # a hang (a rank waiting forever in a collective) fails the test through the timeout
    return subprocess.run(command, capture_output=True, text=True, timeout=180, env=env)


def _worker():
    spec = importlib.util.spec_from_file_location("ddp_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _report(out: Path, rank: int) -> dict:
    return json.loads((out / f"report_rank{rank}.json").read_text())


def _weights(out: Path, rank: int) -> dict[str, torch.Tensor]:
    return torch.load(out / f"final_rank{rank}.pt", weights_only=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One process with micro-batch 32; 2 ranks with 16 each (rank 1 runs out of memory above 8 rows); the
    same 2-rank run with rank 1 failing mid-run, then resumed."""
    root = tmp_path_factory.mktemp("ddp")
    X, y = load_digits(return_X_y=True)
    X, y = torch.tensor(X[:400] / 16.0, dtype=torch.float32), torch.tensor(y[:400])
    torch.save((X, y), data := root / "digits.pt")
    (root / "single").mkdir()
    single = _worker().train(root / "single", X, y, micro_batch=GLOBAL_BATCH, steps=25)
    (root / "single" / "report_rank0.json").write_text(json.dumps(single))
    pair = _launch(root / "pair", data, "--micro-batch", str(GLOBAL_BATCH // 2), "--steps", "25", "--oom-above", "8")
    crashed = _launch(root / "resumed", data, "--micro-batch", "16", "--steps", "25", "--oom-above", "8",
                      "--crash-at", "30")  # fmt: skip
    after_crash = {
        "checkpoint": (root / "resumed" / "checkpoints" / "checkpoint.pt").read_bytes(),
        "run_written": (root / "resumed" / "run").exists(),
    }
    resumed = _launch(root / "resumed", data, "--micro-batch", "16", "--steps", "25", "--oom-above", "8", "--resume")
    for run in (pair, resumed):
        assert run.returncode == 0, run.stderr[-3000:]
    return root, crashed, after_crash


@pytest.mark.cluster
def test_two_ranks_reproduce_one_process_with_the_same_global_batch(runs):
    root = runs[0]
    one, two = _report(root / "single", 0), _report(root / "pair", 0)
    assert two["world_size"] == 2 and one["world_size"] == 1
    assert len(one["history"]) == len(two["history"]) == 3
    for a, b in zip(one["history"], two["history"], strict=True):
        for metric in ("train_loss", "val_loss", "val_accuracy"):
            assert a[metric] == pytest.approx(b[metric], abs=1e-5), metric
    assert one["history"][-1]["val_loss"] < 0.6 * one["history"][0]["val_loss"]  # it learned
    single, rank0, rank1 = (_weights(root / "single", 0), _weights(root / "pair", 0), _weights(root / "pair", 1))
    for name, value in single.items():
        assert torch.allclose(value, rank0[name], atol=1e-5), name
        assert torch.equal(rank0[name], rank1[name]), name  # every rank holds the same model


@pytest.mark.cluster
def test_ranks_agree_on_an_out_of_memory_back_off(runs):
    root = runs[0]
    for rank in (0, 1):  # only rank 1 ran out of memory; both backed off at the same step
        report = _report(root / "pair", rank)
        assert (report["micro_batch"], report["accumulation"]) == (8, 2)
        assert [(e["step"], e["from_micro_batch"], e["to_micro_batch"]) for e in report["oom_events"]] == [(0, 16, 8)]
    assert "another rank" in _report(root / "pair", 0)["oom_events"][0]["error"]
    assert "can't allocate memory" in _report(root / "pair", 1)["oom_events"][0]["error"]


@pytest.mark.cluster
def test_only_rank_zero_writes(runs):
    root = runs[0]
    assert _report(root / "pair", 1)["writes"] == []
    writes = _report(root / "pair", 0)["writes"]
    assert set(writes) == {"checkpoints/checkpoint.pt", "run/run.json", "run/history.csv"}
    assert writes.count("checkpoints/checkpoint.pt") == 25 // 3 + 1  # every 3 steps and at the end
    assert json.loads((root / "pair" / "run" / "run.json").read_text())["world_size"] == 2


@pytest.mark.cluster
def test_a_failing_rank_stops_the_other_and_resume_is_bit_exact(runs):
    root, crashed, after_crash = runs
    assert crashed.returncode != 0
    assert "rank 1 failed on purpose" in crashed.stderr
    assert not after_crash["run_written"]  # rank 0 was stopped before it finished
    crash_step = torch.load(io.BytesIO(after_crash["checkpoint"]), weights_only=True)["loop"]["global_step"]
    assert 0 < crash_step < 25 and crash_step % 3 == 0
    saved = torch.load(root / "resumed" / "checkpoints" / "checkpoint.pt", weights_only=True)
    assert saved["loop"]["global_step"] == 25  # the resumed run went on from the crash's last checkpoint ...
    uninterrupted, resumed = _weights(root / "pair", 0), _weights(root / "resumed", 0)
    for name, value in uninterrupted.items():  # ... to exactly the weights of the run that never stopped
        assert torch.equal(value, resumed[name]), name


def test_sharding_without_a_process_group_names_the_launcher(digits, make_net, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    data = (digits[0][:64], digits[1][:64])
    with pytest.raises(ConfigError, match=r"shard='ddp'.*torchrun --nproc-per-node"):
        Trainer(make_net(), None, TrainConfig(shard="ddp", max_steps=1, verbose=False)).fit(data)
    with pytest.raises(ConfigError, match=r"106099.*132471"):
        Trainer(make_net(), None, TrainConfig(shard="fsdp", max_steps=1, verbose=False)).fit(data)
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ConfigError, match="WORLD_SIZE='two'"):
        Trainer(make_net(), None, TrainConfig(max_steps=1, verbose=False)).fit(data)
    with pytest.raises(ConfigError, match="shard"):
        TrainConfig(shard="zero3")


@pytest.mark.cluster
def test_plan_for_two_ranks_writes_launch_files_that_train(tmp_path, monkeypatch, capsys):
    from tightfit.cli import main

    here = str(Path(__file__).parent)
    monkeypatch.syspath_prepend(here)
    out = tmp_path / "plan"
    code = main(["plan", "--model", "ddp_workload:make", "--budget", "memory=4GB,device=cpu", "--config",
                 "micro_batch=64,epochs=2", "--world-size", "2", "--out", str(out), "--quiet"])  # fmt: skip
    assert code == 0, capsys.readouterr()
    chosen = json.loads((out / "run.json").read_text())["chosen_config"]
    assert (chosen["shard"], chosen["micro_batch"] * chosen["accumulation"]) == ("ddp", 32)  # 64 rows over 2 ranks
    launch = (out / "launch.sh").read_text()
    assert "torchrun --standalone --nproc-per-node 2" in launch
    accelerate = (out / "accelerate_config.yaml").read_text()
    assert "num_processes: 2" in accelerate and "distributed_type: MULTI_CPU" in accelerate
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")])}
    env["OMP_NUM_THREADS"] = "1"
    command = launch.splitlines()[-1].replace("torchrun", f"{sys.executable} -m torch.distributed.run", 1)
    run = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=180, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    trained = json.loads((out / "trained" / "run.json").read_text())
    assert trained["world_size"] == 2
    assert trained["steps"] == 2 * 320 // 64  # two epochs of the 64-row global batch
