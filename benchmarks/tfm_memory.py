"""Tabular foundation models' memory, estimated before running against measured in a fresh child.

Cases: TinyTFM prediction (context rows x features x context cache x ensemble members: ``footprint.predict_peak``)
and fine-tuning steps of TinyTFM and TabICL (their real architectures, random weights; full and LoRA, support
sizes, features: ``plan.estimate`` as ``tightfit recipe`` calls it). Each case's measurement runs in its own child
(``guard.run_limited``): the exact peak of live tensors (``track_peak``) and the process's RSS growth over the call
(``MemoryMonitor``, 5 ms), so the ratio estimate / measured is reported against both. TabPFN is not a case: its
forward uses data-dependent ops (``unique``, ``.item()``) that fake tensors cannot run. 2 threads.

    python benchmarks/tfm_memory.py [--quick] [--part predict|train]

The 4-member case is skipped above 400,000 context cells (10,000 x 50 took over 10 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, write

from tightfit.guard import run_limited

THREADS = 2


def _measure(fn) -> tuple[int, int]:
    """In the child: (tracked tensor peak, RSS growth) of ``fn()``."""
    from tightfit.measure.memory import MemoryMonitor
    from tightfit.measure.tracker import track_peak

    torch.set_num_threads(THREADS)
    with MemoryMonitor(interval_ms=5, device="cpu") as monitor:
        tensors = track_peak(fn).peak
    return tensors, monitor.peak_rss - monitor.baseline_rss


def _predict_child(context: int, features: int, members: int, cached: bool, queries: int) -> tuple[int, int]:
    from tightfit.tabular import TinyTFMClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(context + queries, features)).astype(np.float32)
    y = (X[:, 0] + 0.5 * rng.normal(size=len(X)) > 0).astype(int) + (X[:, 1] > 1)
    clf = TinyTFMClassifier(n_estimators=members, max_context=context, batch_size=512, context_cache=cached)
    clf.fit(X[:context], y[:context])
    return _measure(lambda: clf.predict_proba(X[context:]))


def _train_child(model_name: str, support: int, features: int, lora: bool, micro: int) -> tuple[int, int]:
    from tightfit.plan.estimate import _measured_step
    from tightfit.tabular.models.tiny import query_loss
    from tightfit.tabular.recipe import StepShape, _Costs, build_architecture

    model = build_architecture(model_name)
    costs = _Costs(model, features, 3, "cpu")
    shape = StepShape(support, "peft" if lora else "base-ft", 8 if lora else None, "fp32", False)
    return _measure(lambda: _measured_step(model, costs.batch(shape, micro), costs.config(shape, micro), query_loss))


def predict_cases(quick: bool) -> list[dict]:
    from tightfit.tabular.classifier import _load, shipped_weights
    from tightfit.tabular.footprint import PredictSettings, predict_peak

    model = _load(str(shipped_weights()), "cpu")
    grid = [(1000, 10), (1000, 100), (4000, 20), (4000, 100), (10000, 10), (10000, 50)]
    out = []
    for context, features in grid[:2] if quick else grid:
        for members, cached in [(1, True), (1, False), (4, True)][: 2 if context * features > 400_000 else 3]:
            settings = PredictSettings(context, 512, members, cached)
            estimated = predict_peak(model, settings, features, 3)
            tensors, rss = run_limited(_predict_child, context, features, members, cached, 1024, time="20min")
            out.append({"case": f"TinyTFM predict {context}x{features}, {members} member(s), cache {cached}",
                        "estimated": estimated, "tensors": tensors, "rss_growth": rss})  # fmt: skip
            print(out[-1], flush=True)
    return out


def train_cases(quick: bool) -> list[dict]:
    from tightfit.plan import estimate
    from tightfit.tabular.models.tiny import query_loss
    from tightfit.tabular.recipe import StepShape, _Costs, build_architecture

    grid = {"TinyTFM": [(256, 10), (256, 100), (1024, 20), (1024, 100)], "TabICL": [(128, 20), (128, 100), (512, 20),
                                                                                  (512, 100)]}  # fmt: skip
    out = []
    for name, shapes in grid.items():
        model = build_architecture(name)
        for support, features in shapes[:1] if quick else shapes:
            costs = _Costs(model, features, 3, "cpu")
            for lora in (False, True):
                shape = StepShape(support, "peft" if lora else "base-ft", 8 if lora else None, "fp32", False)
                estimated = estimate(
                    model,
                    costs.batch(shape, 2),
                    costs.config(shape, 2),
                    loss_fn=query_loss,
                    device="cpu",
                    process=False,
                ).peak  # fake tensors, for TabICL too
                tensors, rss = run_limited(_train_child, name, support, features, lora, 2, time="30min")
                out.append({"case": f"{name} {'LoRA r8' if lora else 'full'} step, support {support}, "
                                    f"{features} features, 2 episodes", "estimated": estimated, "tensors": tensors,
                            "rss_growth": rss})  # fmt: skip
                print(out[-1], flush=True)
    return out


def _spread(ratios: list[float]) -> dict:
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}


def _plan_allowance(estimated: int) -> int:
    """What a CPU prediction plan reserves for a predict estimated at ``estimated`` tensor bytes (runtime reserve
    plus the allocator's slack, ``footprint.tensor_limit``): the process grows by more than that only in an OOM."""
    from tightfit.tabular.footprint import PREDICT_ALLOCATOR_SLACK, PREDICT_RUNTIME_BYTES

    return int(PREDICT_RUNTIME_BYTES + (1 + PREDICT_ALLOCATOR_SLACK) * estimated)


def summary(cases: list[dict]) -> dict:
    by_tensors = [c["estimated"] / c["tensors"] for c in cases]
    by_rss = [c["estimated"] / c["rss_growth"] for c in cases if c["rss_growth"] > 0]
    out = {
        "cases": len(cases),
        "estimate_over_tensors": _spread(by_tensors),
        "estimate_over_rss_growth": _spread(by_rss),
    }
    predicts = [c for c in cases if c["case"].startswith("TinyTFM predict")]
    if predicts:  # the budget the plan sets from the estimate: would the measured growth have broken it?
        shares = [c["rss_growth"] / _plan_allowance(c["estimated"]) for c in predicts]
        out["predict_rss_within_plan_allowance"] = {"cases": len(shares), "within": sum(s <= 1 for s in shares),
                                                    "largest_share": max(shares)}  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few cases only")
    parser.add_argument("--part", choices=["all", "predict", "train"], default="all", help="which cases to run")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    started = time.perf_counter()
    cases = (predict_cases(args.quick) if args.part != "train" else []) + (
        train_cases(args.quick) if args.part != "predict" else [])  # fmt: skip
    result = {"machine": machine(), "threads": THREADS, "seconds": time.perf_counter() - started,
              "summary": summary(cases), "cases": cases}  # fmt: skip
    print(result["summary"])
    write("tfm_memory" if args.part == "all" else f"tfm_memory_{args.part}", result)


if __name__ == "__main__":
    main()
