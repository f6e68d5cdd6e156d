"""What each pretraining trick of TinyTFM buys on this CPU: seconds per optimizer step (32 tables), measured
side by side on the same batches, median of interleaved repeats.

- precision: bf16 autocast vs fp32, on the same prior batches;
- table-size curriculum: the wide prior drawn as-is (widths uniform in 2-100, 80-250 rows) vs with the cell
  budget the v2 checkpoint was pretrained with (widths log-uniform, rows cut so rows x (features + 1) <= 2750).

    python benchmarks/pretrain_tricks.py [--repeats 5] [--batches 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, write

from tightfit.tabular.models.tiny import TinyTFM, TinyTFMConfig, query_loss
from tightfit.tabular.prior import PriorSettings
from tightfit.tabular.synthetic import SyntheticBatches

THREADS = 2
MAX_CELLS = 2750


def _step_seconds(batches: list, precision: str) -> list[float]:
    """Seconds of one AdamW step (forward, backward, update) per batch, on a fresh model."""
    torch.manual_seed(0)
    model = TinyTFM(TinyTFMConfig())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    seconds = []
    for x, y_context, target in batches:
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = query_loss(model(x, y_context), target)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batches", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    wide = PriorSettings(max_features=100)
    capped = PriorSettings(max_features=100, max_cells=MAX_CELLS)
    data = {name: [SyntheticBatches(s, args.batches, seed=1)[i] for i in range(args.batches)]
            for name, s in (("uncapped", wide), ("capped", capped))}  # fmt: skip
    runs = {"fp32, uncapped": ("uncapped", "fp32"), "bf16, uncapped": ("uncapped", "bf16"),
            "bf16, cell budget": ("capped", "bf16")}  # fmt: skip
    measured: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):  # interleaved: drift in the machine's speed hits every run alike
        for name, (prior, precision) in runs.items():
            measured[name].append(sum(_step_seconds(data[prior], precision)) / args.batches)
    medians = {name: statistics.median(values) for name, values in measured.items()}
    cells = {name: statistics.mean(float(x.shape[1] * (x.shape[2] + 1)) for x, _, _ in batches)
             for name, batches in data.items()}  # fmt: skip
    for name, value in medians.items():
        print(f"{name:>20}: {value:.2f} s/step (spread {min(measured[name]):.2f}-{max(measured[name]):.2f})")
    bf16 = medians["fp32, uncapped"] / medians["bf16, uncapped"]
    budget = medians["bf16, uncapped"] / medians["bf16, cell budget"]
    print(f"bf16 speedup {bf16:.2f}x; cell budget {budget:.2f}x per step (mean cells per table "
          f"{cells['uncapped']:.0f} -> {cells['capped']:.0f}); threads {THREADS}")  # fmt: skip
    path = write("pretrain_tricks", {
        "machine": machine(), "threads": THREADS, "repeats": args.repeats, "batches": args.batches,
        "seconds_per_step": medians, "all": measured, "mean_cells_per_table": cells,
        "bf16_speedup": bf16, "cell_budget_speedup": budget,
    })  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
