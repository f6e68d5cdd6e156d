"""tightfit demo (``make demo``): measure a small training job on scikit-learn's bundled digits data.

Every number printed here was measured on this machine, now:
1. the exact tensor-memory peak of one training step, split by what the bytes hold (``track_peak``);
2. the process memory timeline of a short training run, with phase marks, saved as a PNG (``MemoryMonitor``);
3. inference latency (p50/p95) and model size (``latency``, ``size_of``);
4. a hard memory limit: the same job in a child process under ``memory="1GB"`` passes, and a 2 GB
   allocation under the same limit is stopped with ``BudgetExceeded`` (``run_limited``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table
from sklearn.datasets import load_digits
from torch import nn

from tightfit import Budget, BudgetExceeded
from tightfit.guard import run_limited
from tightfit.measure import MemoryMonitor, latency, size_of, track_peak
from tightfit.units import format_bytes, format_seconds

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "out")


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))


def train(epochs: int = 8, batch: int = 64, monitor: MemoryMonitor | None = None) -> float:
    """Train on 80% of digits and return held-out accuracy."""
    X, y = load_digits(return_X_y=True)
    X = torch.tensor(X / 16.0, dtype=torch.float32)
    y = torch.tensor(y)
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
    train_idx, test_idx = order[: int(0.8 * len(X))], order[int(0.8 * len(X)) :]
    model = make_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    for epoch in range(epochs):
        if monitor is not None:
            monitor.mark(f"epoch {epoch + 1}")
        for start in range(0, len(train_idx), batch):
            idx = train_idx[start : start + batch]
            loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    with torch.no_grad():
        return float((model(X[test_idx]).argmax(1) == y[test_idx]).float().mean())


def main() -> None:
    console = Console()
    OUT.mkdir(parents=True, exist_ok=True)

    # 1. exact peak of one step
    model = make_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = torch.randn(512, 64), torch.randint(0, 10, (512,))

    def step(precision: torch.dtype | None) -> None:
        with torch.autocast("cpu", dtype=precision or torch.float32, enabled=precision is not None):
            loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step(None)  # create the optimizer state first, so both rows compare steady-state steps
    table = Table(title="1. one training step (batch 512): exact live-tensor peak")
    for col in ("autocast", "peak", "params", "grads", "optimizer", "activations", "other"):
        table.add_column(col, justify="right")
    for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
        report = track_peak(step, dtype)
        table.add_row(name, format_bytes(report.peak), *(format_bytes(v) for v in report.breakdown.values()))
    console.print(table)

    # 2. memory timeline of a short run
    with MemoryMonitor(interval_ms=5, device="cpu") as monitor:
        accuracy = train(monitor=monitor)
    png = monitor.plot(OUT / "memory_timeline.png", title="digits MLP: process memory while training")
    console.print(
        f"2. training run: held-out accuracy {accuracy:.3f}; process RSS peak {format_bytes(monitor.peak)} "
        f"(+{format_bytes(monitor.peak - monitor.baseline)} over the start); timeline: {png}"
    )

    # 3. latency and size
    model.eval()
    batch = torch.randn(256, 64)
    with torch.inference_mode():
        lat = latency(model, batch, warmup=5)
    console.print(
        f"3. inference, batch 256: p50 {format_seconds(lat.p50_s)}, p95 {format_seconds(lat.p95_s)} over "
        f"{lat.n_repeats} runs; model size {format_bytes(size_of(model))}"
    )

    # 4. hard limits in a child process
    budget = Budget(memory="1GB", time="2min")
    accuracy = run_limited(train, memory=budget.memory, time=budget.time)
    console.print(f"4. under {budget}: the training job finished in a guarded child (accuracy {accuracy:.3f})")
    try:
        run_limited(lambda: torch.ones(2_000_000_000, dtype=torch.uint8).sum(), memory=budget.memory)
    except BudgetExceeded as exc:
        console.print(f"   a 2 GB allocation under the same limit was stopped: [bold]{exc}[/bold]")


if __name__ == "__main__":
    main()
