"""Estimate benchmark: how close the fake-tensor pre-flight gets to what the real step uses.

The estimate zoo (tests/plan/zoo.py: residual MLP, CNN, transformer encoder, GRU, tabular transformer; 4
configs each: fp32, bf16 + accumulation, checkpointing + SGD, LoRA + Adafactor) at scale 4, two tables:

1. tensor peak: ``estimate(...).peak`` vs ``track_peak`` of the same two real steps (target: within 2%),
   and the seconds each took;
2. process RSS: ``estimate(...).process_peak`` (tensor peak + measured baseline + allocator slack) vs the
   peak RSS (``VmHWM``) of a fresh child running the real step (target: within 15%), median of ``--repeats``;
   once with glibc's default allocator and once with ``release_memory`` (no slack in the estimate).

CUDA rows need a GPU: this script adds them (predicted ``device_peak`` vs ``torch.cuda.max_memory_allocated``)
when torch sees one.

    python benchmarks/estimate.py [--repeats 3] [--scale 4]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

from tightfit import Budget

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "plan"))  # the estimate zoo
from _common import machine, median, write
from rss_probe import real_step_rss
from zoo import ZOO

from tightfit.guard import run_limited
from tightfit.measure import track_peak
from tightfit.plan import estimate
from tightfit.plan.estimate import _as_tensors, _grown, _step_config
from tightfit.train import Trainer
from tightfit.units import format_bytes

LABELS = ["fp32", "bf16 mb/2 x2", "ckpt + sgd", "LoRA r4 + adafactor"]


def _real_cuda_peak(arch: str, scale: int, index: int) -> int:
    """In a child: the real two steps on CUDA; ``torch.cuda.max_memory_allocated``."""
    model, sample, configs = ZOO[arch](scale)
    config = configs[index]
    torch.cuda.reset_peak_memory_stats()
    batch = _grown(_as_tensors(sample), config.effective_batch)
    Trainer(model, None, _step_config(config)).fit(batch, budget=Budget(device="cuda"))
    return torch.cuda.max_memory_allocated()


def tensor_rows(scale: int) -> list[dict]:
    rows = []
    for arch in ZOO:
        for index, label in enumerate(LABELS):
            model, sample, configs = ZOO[arch](scale)
            config = configs[index]
            est = estimate(model, sample, config, device="cpu", process=False)
            model, sample, _ = ZOO[arch](scale)
            batch = _grown(_as_tensors(sample), config.effective_batch)
            started = time.perf_counter()
            real = track_peak(lambda: Trainer(model, None, _step_config(config)).fit(batch))  # noqa: B023
            rows.append(
                {
                    "arch": arch,
                    "config": label,
                    "estimated": est.peak,
                    "tracked": real.peak,
                    "ratio": est.peak / real.peak,
                    "estimate_s": est.seconds_spent,
                    "real_s": time.perf_counter() - started,
                }
            )
    return rows


def rss_rows(scale: int, repeats: int, release: bool) -> list[dict]:
    rows = []
    for arch in ZOO:
        for index, label in enumerate(LABELS):
            model, sample, configs = ZOO[arch](scale)
            config = dataclasses.replace(configs[index], release_memory=release)
            est = estimate(model, sample, config, device="cpu")
            measured = median([run_limited(real_step_rss, arch, scale, index, release) for _ in range(repeats)])
            rows.append(
                {
                    "arch": arch,
                    "config": label,
                    "release_memory": release,
                    "tensor_peak": est.peak,
                    "process_baseline": est.allowances["process_baseline"],
                    "allocator_slack": est.allowances["allocator_slack"],
                    "predicted": est.process_peak,
                    "measured": measured,
                    "error": est.process_peak / measured - 1,
                }
            )
            print(f"  {arch} {label}: predicted {est.process_peak} measured {measured}", flush=True)
    return rows


def cuda_rows(scale: int) -> list[dict]:
    rows = []
    for arch in ZOO:
        for index, label in enumerate(LABELS):
            model, sample, configs = ZOO[arch](scale)
            est = estimate(model, sample, configs[index], device="cuda")
            measured = run_limited(_real_cuda_peak, arch, scale, index)
            rows.append(
                {
                    "arch": arch,
                    "config": label,
                    "predicted": est.device_peak,
                    "measured": measured,
                    "error": est.device_peak / measured - 1,
                    "allowances": est.allowances,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale", type=int, default=4)
    args = parser.parse_args()
    tensors = tensor_rows(args.scale)
    print(f"\n{'model':20} {'config':20} {'estimated':>10} {'tracked':>10} {'ratio':>7} {'est s':>6} {'real s':>6}")
    for r in tensors:
        print(
            f"{r['arch']:20} {r['config']:20} {format_bytes(r['estimated']):>10} {format_bytes(r['tracked']):>10} "
            f"{r['ratio']:>7.4f} {r['estimate_s']:>6.2f} {r['real_s']:>6.2f}"
        )
    rss = []
    for release in (False, True):
        print(f"\nprocess RSS (fresh child per run), release_memory={release}:", flush=True)
        rows = rss_rows(args.scale, args.repeats, release)
        header = f"{'tensors':>9} {'baseline':>9} {'slack':>8} {'predicted':>10} {'measured':>9}"
        print(f"\n{'model':20} {'config':20} {header}")
        for r in rows:
            print(
                f"{r['arch']:20} {r['config']:20} {format_bytes(r['tensor_peak']):>9} "
                f"{format_bytes(r['process_baseline']):>9} {format_bytes(r['allocator_slack']):>8} "
                f"{format_bytes(r['predicted']):>10} {format_bytes(r['measured']):>9} {r['error']:>+7.1%}"
            )
        rss += rows
    cuda = cuda_rows(args.scale) if torch.cuda.is_available() else []
    for r in cuda:
        print(
            f"cuda {r['arch']:20} {r['config']:20} predicted {format_bytes(r['predicted'])} "
            f"max_memory_allocated {format_bytes(r['measured'])} {r['error']:+.1%}"
        )
    worst_tensor = max(abs(r["ratio"] - 1) for r in tensors)
    print(f"\nworst tensor-peak error {worst_tensor:.2%} (target 2%); torch threads {torch.get_num_threads()}")
    for release in (False, True):
        errors = [r["error"] for r in rss if r["release_memory"] is release]
        within = sum(abs(e) <= 0.15 for e in errors)
        print(
            f"release_memory={release}: RSS within 15% for {within}/{len(errors)} rows, mean |error| "
            f"{sum(map(abs, errors)) / len(errors):.1%}, worst {max(errors, key=abs):+.1%}"
        )
    path = write(
        "estimate",
        {"machine": machine(), "scale": args.scale, "repeats": args.repeats, "tensor": tensors, "rss": rss}
        | {"cuda": cuda},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
