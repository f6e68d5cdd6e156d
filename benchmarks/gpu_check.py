"""Every CUDA path of tightfit in a few minutes, one table: run it where a GPU is available.

    python benchmarks/gpu_check.py        # prints the table, writes benchmarks/results/gpu_check.json

Checks (each a row; a failure is a row with its error, never a crash of the script):
1. fp16 fine-tuning with a GradScaler: the loss falls and stays finite;
2. CUDA OOM back-off: a micro-batch too large for a device cap is halved and training finishes;
3. the pre-flight estimate against ``torch.cuda.max_memory_allocated`` of the real step;
4. ``plan`` under ``Budget(memory="2GB", device="cuda")``: the chosen config's measured device peak is under it;
5. ``AutoFit`` under a device memory cap: the guard reports the child's device peak;
6. ``compress`` fp16 on CUDA: measured beside the CPU original;
7. a 1-GPU FSDP step (``TrainConfig(shard="fsdp")`` in a 1-rank NCCL group): the loss falls, and the per-rank
   estimate stands beside ``torch.cuda.max_memory_allocated``.
On a machine without CUDA it says so and exits 0.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from torch import nn

from tightfit import Budget, Hardware

RESULTS = Path(__file__).parent / "results" / "gpu_check.json"


def _mlp(width: int = 1024, depth: int = 4) -> nn.Module:
    layers: list[nn.Module] = [nn.Linear(64, width), nn.GELU()]
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.GELU()]
    return nn.Sequential(*layers, nn.Linear(width, 10))


def _data(rows: int = 8192):
    torch.manual_seed(0)
    X = torch.randn(rows, 64)
    return X, (X[:, :10].argmax(1))


def fp16_finetune() -> str:
    from tightfit.train import TrainConfig, Trainer

    result = Trainer(_mlp(), None, TrainConfig(precision="fp16", micro_batch=256, epochs=3, verbose=False)).fit(
        _data(), budget=Budget(device="cuda")
    )
    losses = [row["train_loss"] for row in result.history]
    assert all(v == v for v in losses) and losses[-1] < losses[0], losses
    return f"loss {losses[0]:.3f} -> {losses[-1]:.3f}, {result.nan_skipped_steps} skipped steps"


def oom_backoff() -> str:
    from tightfit.train import TrainConfig, Trainer

    config = TrainConfig(micro_batch=8192, epochs=1, verbose=False)
    result = Trainer(_mlp(8192, 2), None, config).fit(_data(), budget=Budget(memory="1.5GB", device="cuda"))
    assert result.oom_events, "no OOM event: the cap did not bind"
    return f"micro_batch 8192 -> {result.config.micro_batch} after {len(result.oom_events)} OOM event(s)"


def estimate_vs_real() -> str:
    from tightfit.plan import estimate
    from tightfit.train import TrainConfig, Trainer

    X, y = _data(1024)
    config = TrainConfig(micro_batch=512, epochs=1, max_steps=2, verbose=False)
    est = estimate(_mlp(), (X[:4], y[:4]), config, device="cuda")
    torch.cuda.reset_peak_memory_stats()
    Trainer(_mlp(), None, config).fit((X, y), budget=Budget(device="cuda"))
    real = torch.cuda.max_memory_allocated()
    return f"estimated {est.device_peak / 1e6:.1f} MB vs real {real / 1e6:.1f} MB ({est.device_peak / real:.2f}x)"


def plan_under_cap() -> str:
    from tightfit.plan import plan
    from tightfit.train import TrainConfig

    result = plan(_mlp(4096, 4), _data(), Budget(memory="2GB", device="cuda"),
                  base_config=TrainConfig(micro_batch=8192, epochs=1), max_measured=1)  # fmt: skip
    chosen = result.leaderboard.chosen
    assert chosen is not None, [(e.name, e.reason) for e in result.candidates]
    peak = chosen.measured.device_peak_bytes
    assert peak <= 2e9, peak
    return f"{chosen.name}: device peak {peak / 1e6:.0f} MB <= 2000 MB"


def autofit_device_cap() -> str:
    from sklearn.datasets import load_breast_cancer

    from tightfit import AutoFit
    from tightfit.tabular import Candidate

    X, y = load_breast_cancer(return_X_y=True)
    auto = AutoFit(Budget(memory="4GB", device="cuda"), candidates=[Candidate("TinyTFM zero-shot", "TinyTFM")],
                   verbose=False).fit(X, y)  # fmt: skip
    entry = auto.search_.chosen
    return f"device peak {entry.measured.device_peak_bytes} B, host peak {entry.measured.peak_bytes / 1e6:.0f} MB"


def compress_fp16() -> str:
    from tightfit.compress import compress

    report = compress(_mlp().eval(), torch.randn(64, 64), techniques=("fp16",), verbose=False)
    fp16 = report.variants[0]
    assert fp16.verdict != "failed", fp16.reason
    return f"fp16 p50 @32 {fp16.latency[32]['p50_s'] * 1e3:.2f} ms, fidelity {fp16.quality:.4f}"


def fsdp_one_gpu() -> str:
    import os

    import torch.distributed as dist

    from tightfit.plan import estimate
    from tightfit.train import TrainConfig, Trainer

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="29517", RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")
    X, y = _data(2048)
    config = TrainConfig(micro_batch=512, epochs=3, shard="fsdp", verbose=False)
    est = estimate(_mlp(), (X[:4], y[:4]), config, device="cuda", world_size=1, shard="fsdp")
    torch.cuda.reset_peak_memory_stats()
    try:
        result = Trainer(_mlp(), None, config).fit((X, y), budget=Budget(device="cuda"))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    real = torch.cuda.max_memory_allocated()
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < losses[0], losses
    return (f"loss {losses[0]:.3f} -> {losses[-1]:.3f}; estimated {est.device_peak / 1e6:.1f} MB vs real "
            f"{real / 1e6:.1f} MB ({est.device_peak / real:.2f}x)")  # fmt: skip


CHECKS = (fp16_finetune, oom_backoff, estimate_vs_real, plan_under_cap, autofit_device_cap, compress_fp16, fsdp_one_gpu)


def main() -> int:
    hardware = Hardware.probe()
    if not hardware.has_cuda:
        print("gpu_check: torch sees no CUDA device here; nothing to check.")
        return 0
    rows = []
    for check in CHECKS:
        started = time.perf_counter()
        try:
            outcome, ok = check(), True
        except Exception as exc:  # each check is a row, whatever happens
            outcome, ok = f"{type(exc).__name__}: {exc}"[:300], False
        seconds = time.perf_counter() - started
        rows.append({"check": check.__name__, "ok": ok, "outcome": outcome, "seconds": seconds})
        verdict = "ok" if ok else "FAILED"
        print(f"| {check.__name__} | {verdict} | {outcome} | {seconds:.0f} s |", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    record = {"date": time.strftime("%Y-%m-%d"), "machine": hardware.summary(), "rows": rows}
    RESULTS.write_text(json.dumps(record, indent=2))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
