"""Plan benchmark: the planner under three memory budgets for three models, checked against real runs.

Models (from the estimate zoo): a token transformer, a GRU forecaster (no repeated blocks, so no
checkpointing) and an FT-Transformer-style tabular model, each with a naive config whose activations
dominate. Budgets: 1.25x, 0.8x and 0.6x the naive config's measured peak RSS (a fresh child, the same
figure ``guard.run_limited`` enforces). For each budget:

- the naive config's fate under the cap: fits, or the engine had to halve its micro-batch, or it is killed;
- the plan's choice, its predicted process peak and trial step time;
- the choice run again for ``--steps`` steps under the cap, ``--repeats`` times: measured peak and median
  step time, and the ratios predicted / measured.

Synthetic inputs (memory and time do not depend on the values); torch threads are noted in the results.

    python benchmarks/plan.py [--repeats 3] [--steps 8]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "plan"))  # the estimate zoo
from _common import machine, median, write
from zoo import GRUForecaster, TabularTransformer, TokenTransformer

from tightfit import Budget, BudgetExceeded
from tightfit.guard import run_limited
from tightfit.plan import plan
from tightfit.plan.search import _trial
from tightfit.train import TrainConfig
from tightfit.units import format_bytes, format_seconds

BUDGET_FRACTIONS = (1.25, 0.8, 0.6)


def workloads() -> dict:
    """name -> (model, (X, y), naive config); 4 effective batches of rows, enough for the trials."""
    torch.manual_seed(0)
    return {
        "token transformer": (
            TokenTransformer(8, 128, 3, 5),
            (torch.randn(4096, 16, 8), torch.randint(0, 5, (4096,))),
            TrainConfig(micro_batch=1024, verbose=False),
        ),
        "GRU forecaster": (
            GRUForecaster(6, 128, 2),
            (torch.randn(8192, 48, 6), torch.randn(8192)),
            TrainConfig(micro_batch=2048, verbose=False),
        ),
        "tabular transformer": (
            TabularTransformer(24, 64, 3, 3),
            (torch.randn(16384, 24), torch.randint(0, 3, (16384,))),
            TrainConfig(micro_batch=4096, verbose=False),
        ),
    }


def naive_fate(model, data, config, cap: int) -> str:
    try:
        out = run_limited(_trial, model, data, config, 2, memory=cap)
    except BudgetExceeded:
        return "killed at the cap"
    return f"fits only by halving micro_batch {out['oom_events']}x" if out["oom_events"] else "fits"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    rows = []
    for name, (model, data, naive) in workloads().items():
        naive_peak = median([run_limited(_trial, model, data, naive, 2)["peak_bytes"] for _ in range(args.repeats)])
        for fraction in BUDGET_FRACTIONS:
            cap = int(fraction * naive_peak)
            started = time.perf_counter()
            result = plan(model, data, Budget(memory=cap, device="cpu"), base_config=naive, max_measured=2)
            plan_s = time.perf_counter() - started
            row = {
                "model": name,
                "budget_fraction": fraction,
                "budget_bytes": cap,
                "naive_peak_bytes": naive_peak,
                "naive_fate": naive_fate(model, data, naive, cap),
                "plan_s": plan_s,
                "estimated": sum("estimate" in c.details for c in result.candidates),
                "measured": sum(c.measured is not None for c in result.candidates),
                "chosen": None,
            }
            if result.chosen is not None:
                chosen = result.leaderboard.chosen
                try:
                    runs = [
                        run_limited(_trial, model, data, result.chosen, args.steps, memory=cap)
                        for _ in range(args.repeats)
                    ]
                except BudgetExceeded as exc:  # the short trial fitted, the longer run did not: report it
                    row |= {"chosen": chosen.name, "verification": f"failed: {exc}"}
                    rows.append(row)
                    print(row, flush=True)
                    continue
                row |= {
                    "chosen": chosen.name,
                    "predicted_peak_bytes": chosen.details["estimate"].process_peak,
                    "measured_peak_bytes": median([r["peak_bytes"] for r in runs]),
                    "trial_step_s": chosen.measured.extra["step_time_s"],
                    "measured_step_s": median([r["step_time_s"] for r in runs]),
                    "oom_events": sum(r["oom_events"] for r in runs),
                }
                row["peak_ratio"] = row["predicted_peak_bytes"] / row["measured_peak_bytes"]
                row["step_ratio"] = row["trial_step_s"] / row["measured_step_s"]
            rows.append(row)
            print(row, flush=True)

    print(
        f"\n{'model':20} {'budget':>14} {'naive config':32} {'chosen':32} {'pred/meas peak':>14} "
        f"{'trial/meas step':>15} {'plan':>6}"
    )
    for r in rows:
        budget = f"{format_bytes(r['budget_bytes'])} ({r['budget_fraction']:.2f}x)"
        if r["chosen"] is None:
            tail = f"{'nothing fits':32} {'':>14} {'':>15}"
        elif "verification" in r:
            tail = f"{r['chosen']:32} {'over the cap in the longer run':>30}"
        else:
            tail = f"{r['chosen']:32} {r['peak_ratio']:>14.2f} {r['step_ratio']:>15.2f}"
        print(f"{r['model']:20} {budget:>14} {r['naive_fate']:32} {tail} {format_seconds(r['plan_s']):>6}")
    path = write("plan", {"machine": machine(), "repeats": args.repeats, "steps": args.steps, "rows": rows})
    print(f"torch threads {torch.get_num_threads()}; wrote {path}")


if __name__ == "__main__":
    main()
