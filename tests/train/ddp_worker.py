"""One rank of the data-parallel tests (``torchrun --nproc-per-node N tests/train/ddp_worker.py OUT DATA ...``);
:func:`train` is the single-process reference when called in the test's own process. Trains a small MLP on
the rows in ``DATA`` (a ``torch.save``d ``(X, y)``: the ranks need not import scikit-learn) through ``Trainer``
and leaves, per rank, ``final_rank{r}.pt`` (the weights) and ``report_rank{r}.json`` (history, the files this
rank wrote atomically, the final micro-batch and OOM events)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch
from torch import nn


def _recording_writes(out: Path) -> list[str]:
    """Every atomic write ends in ``os.replace``: record this rank's targets."""
    writes: list[str] = []
    replace = os.replace

    def recorded(src, dst, *args, **kwargs):
        writes.append(str(Path(dst).relative_to(out)))
        return replace(src, dst, *args, **kwargs)

    os.replace = recorded
    return writes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("data")
    parser.add_argument("--micro-batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--crash-at", type=int, default=None, help="rank 1 raises at this step")
    parser.add_argument("--oom-above", type=int, default=None, help="rank 1 runs out of memory above these rows")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    writes = _recording_writes(out)
    X, y = torch.load(args.data, weights_only=True)
    report = train(out, X, y, args.micro_batch, args.steps, args.crash_at, args.oom_above, args.resume)
    (out / f"report_rank{report['rank']}.json").write_text(json.dumps(report | {"writes": writes}))


def train(
    out: Path,
    X: torch.Tensor,
    y: torch.Tensor,
    micro_batch: int,
    steps: int,
    crash_at: int | None = None,
    oom_above: int | None = None,
    resume: bool = False,
) -> dict:
    """Train, save this rank's final weights, and return what the test checks."""
    from tightfit.train import TrainConfig, Trainer

    rank = int(os.environ.get("RANK", 0))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    calls = {"steps": 0}

    def hook(module, inputs):
        rows = len(inputs[0])
        if rank == 1 and oom_above is not None and rows > oom_above:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes")
        calls["steps"] += module.training
        if rank == 1 and crash_at is not None and calls["steps"] > crash_at:
            raise ValueError(f"rank 1 failed on purpose at forward {calls['steps']}")

    model.register_forward_pre_hook(hook)
    config = TrainConfig(
        micro_batch=micro_batch,
        max_steps=steps,
        epochs=100,
        lr=0.05,
        checkpoint_dir=str(out / "checkpoints"),
        checkpoint_every=3,
        verbose=False,
    )
    result = Trainer(model, None, config).fit((X[:320], y[:320]), val_data=(X[320:], y[320:]), resume=resume)
    result.save_run(out / "run")
    torch.save(model.state_dict(), out / f"final_rank{rank}.pt")
    return {
        "rank": rank,
        "history": result.history,
        "micro_batch": result.config.micro_batch,
        "accumulation": result.config.accumulation,
        "oom_events": result.oom_events,
        "world_size": result.world_size,
        "steps": result.steps,
    }


if __name__ == "__main__":
    main()
