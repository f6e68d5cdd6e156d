"""`plan(model, train_data, budget)`: search the engine's techniques for the fastest config that fits.

1. Enumerate candidates — precision x micro-batch (keeping the effective batch) x checkpointing x LoRA
   rank x optimizer — ordered cheapest-first (fewest slow-downs).
2. Estimate each under fake tensors (``estimate``) and reject those predicted over the memory budget less
   a safety margin (``SAFETY_MARGIN``, what the process-RSS model can miss by). On the CPU, a candidate
   whose process could outgrow the budget through the C allocator's drift over a long run releases freed
   memory to the OS instead (``TrainConfig.release_memory``, see ``_needs_release``).
3. Measure each survivor for a few real steps in a child process under ``guard.run_limited`` with the
   memory budget as a hard cap: real peak, time per sample, and the full-run wall time it predicts. A
   measured peak within the safety margin of the budget is rejected too: a few steps' peak varies from run
   to run and creeps up over a long run (benchmarks/plan.py caught a choice whose 3-step trial fitted and
   whose 8-step run then exceeded the cap). Stop once ``max_measured`` candidates were measured to fit.
4. Optionally probe quality (a short run, validation loss) and choose the fastest config whose quality
   is within ``tolerance`` of the best; otherwise simply the fastest that fits.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from tightfit.budget import Budget
from tightfit.errors import BudgetExceeded, ConfigError, bad_param
from tightfit.measure._units import format_bytes, format_seconds
from tightfit.plan.estimate import FRAGMENTATION_BOUND, Estimate, estimate
from tightfit.plan.pareto import pareto_front, plot_plan
from tightfit.train.config import TrainConfig
from tightfit.train.data import as_dataset
from tightfit.train.techniques.checkpointing import find_repeated_blocks
from tightfit.train.techniques.lora import LoraSpec

__all__ = ["Candidate", "Plan", "QualityProbe", "enumerate_candidates", "plan"]

log = logging.getLogger(__name__)

SAFETY_MARGIN = 0.10  # a candidate is predicted to fit only below 90% of the memory budget (RSS model error)


@dataclass(frozen=True)
class QualityProbe:
    """Rank finalists by validation loss after ``steps`` optimizer steps; keep those within ``tolerance``
    (relative) of the best."""

    val_data: Any
    steps: int = 30
    tolerance: float = 0.05

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise bad_param("steps", "QualityProbe", "an int >= 1", self.steps)
        if not isinstance(self.tolerance, (int, float)) or self.tolerance < 0:
            raise bad_param("tolerance", "QualityProbe", "a number >= 0", self.tolerance)


@dataclass
class Candidate:
    """One config and what the planner learned about it. ``verdict``: chosen, fits, rejected or skipped."""

    config: TrainConfig
    estimate: Estimate | None = None
    measured: dict[str, float] | None = None
    verdict: str = "skipped"
    reason: str = ""

    def label(self) -> str:
        c = self.config
        parts = [c.precision, f"mb {c.micro_batch}x{c.accumulation}"]
        if c.checkpointing:
            parts.append("ckpt")
        if c.lora is not None:
            parts.append(f"LoRA r{c.lora.r}")
        parts.append(c.optimizer)
        if c.release_memory:
            parts.append("release")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "label": self.label(),
            "verdict": self.verdict,
            "reason": self.reason,
            "measured": self.measured,
            "estimate": None if self.estimate is None else self.estimate.to_dict(),
        }


@dataclass
class Plan:
    """The search's outcome: ``chosen`` (None when nothing fits), every candidate with its verdict and reason,
    and the indices of the measured Pareto frontier (peak memory vs time per sample)."""

    chosen: TrainConfig | None
    candidates: list[Candidate]
    frontier: list[int] = field(default_factory=list)
    budget: Budget = field(default_factory=Budget)
    device: str = "cpu"
    _model: Any = field(default=None, repr=False)
    _train_data: Any = field(default=None, repr=False)
    _loss_fn: Any = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen": None if self.chosen is None else self.chosen.to_dict(),
            "budget": self.budget.to_dict(),
            "device": self.device,
            "frontier": self.frontier,
            "candidates": [c.to_dict() for c in self.candidates],
        }

    def rows(self) -> list[dict[str, str]]:
        """Printable rows: config, estimated and measured peak, time per sample, predicted fit, verdict."""
        rows = []
        for cand in self.candidates:
            est = cand.estimate
            m = cand.measured or {}
            rows.append(
                {
                    "config": cand.label(),
                    "estimated peak": "" if est is None else format_bytes(_budgeted_peak(est)),
                    "measured peak": format_bytes(m["peak_bytes"]) if "peak_bytes" in m else "",
                    "time/sample": format_seconds(m["seconds_per_sample"]) if "seconds_per_sample" in m else "",
                    "predicted fit": format_seconds(m["predicted_fit_s"]) if "predicted_fit_s" in m else "",
                    "val loss": f"{m['val_loss']:.4f}" if "val_loss" in m else "",
                    "verdict": cand.verdict,
                    "reason": cand.reason,
                }
            )
        return rows

    def plot(self, path) -> Any:
        """Pareto chart: peak memory vs time per sample (marker = quality where probed), budget as lines."""
        return plot_plan(self, path)

    def run(self, val_data: Any = None, verbose: bool = True, **fit_kwargs: Any):
        """Train the model with the chosen config through the engine; returns the ``TrainResult``."""
        from tightfit.train.engine import Trainer

        if self.chosen is None:
            raise ConfigError("no candidate fits the budget; see plan.rows() for each rejection's reason.")
        config = dataclasses.replace(self.chosen, verbose=verbose)
        return Trainer(self._model, self._loss_fn, config).fit(
            self._train_data, val_data=val_data, budget=self.budget, **fit_kwargs
        )


def _budgeted_peak(est: Estimate) -> int:
    return est.device_peak if est.device.startswith("cuda") else est.process_peak


def _needs_release(cand: Candidate, budget: Budget) -> bool:
    """CPU under a memory budget: whether the default allocator's drift could break the budget over a long run.

    A few trial steps cannot show that drift (it grows with steps), so the default allocator is kept only
    when the process fits with ``FRAGMENTATION_BOUND`` of the tensor peak kept on top; otherwise the config
    releases freed memory at once (``TrainConfig.release_memory``), whose RSS is steady and predicted by
    baseline + tensors.
    """
    est = cand.estimate
    if budget.memory is None or cand.config.release_memory or "process_baseline" not in est.allowances:
        return False
    drifted = est.allowances["process_baseline"] + (1 + FRAGMENTATION_BOUND) * est.peak
    return max(drifted, est.allowances.get("startup_peak", 0)) > (1 - SAFETY_MARGIN) * budget.memory


def _halvings(effective: int, limit: int = 6) -> list[int]:
    sizes, size = [], effective
    while size >= 1 and len(sizes) < limit:
        if effective % size == 0:
            sizes.append(size)
        size //= 2
    return sizes


def enumerate_candidates(
    model: nn.Module, base: TrainConfig, device: str, lora_ranks: Sequence[int] = (0, 8)
) -> list[TrainConfig]:
    """Every combination, cheapest first: the sort key counts the slow-downs each technique brings."""
    precisions = ["fp32", "bf16"] + (["fp16"] if device.startswith("cuda") else [])
    checkpointing = [False, True] if find_repeated_blocks(model) else [False]
    optimizers = list(dict.fromkeys([base.optimizer, "adafactor"]))
    effective = base.effective_batch
    configs = []
    for precision, micro, ckpt, rank, opt in itertools.product(
        precisions, _halvings(effective), checkpointing, lora_ranks, optimizers
    ):
        lora = None if rank == 0 else LoraSpec(r=rank, alpha=2 * rank)
        configs.append(
            dataclasses.replace(
                base,
                precision=precision,
                micro_batch=micro,
                accumulation=effective // micro,
                checkpointing=ckpt,
                lora=lora,
                optimizer=opt,
                verbose=False,
            )
        )

    def cost(c: TrainConfig) -> tuple:
        slowdowns = (
            math.log2(c.accumulation)
            + 2 * bool(c.checkpointing)
            + (c.lora is not None)
            + (c.optimizer != base.optimizer)
            + (c.precision != "fp32") * 0.5
        )
        return (slowdowns, c.precision != "fp32")

    return sorted(configs, key=cost)


def _trial(model, data, config, steps: int, val_data=None, loss_fn=None) -> dict[str, float]:
    """In a child process: a few real steps (and an optional validation); peak RSS and step time."""
    from tightfit.measure.memory import peak_rss
    from tightfit.train.engine import Trainer

    trainer = Trainer(
        model,
        loss_fn,
        dataclasses.replace(
            config, max_steps=steps, epochs=10**6, verbose=False, early_stopping=None, checkpoint_dir=None
        ),
    )
    result = trainer.fit(data)
    out = {
        "peak_bytes": peak_rss(),
        "step_time_s": result.step_time_s,
        "rows_per_step": result.effective_batch,
        "oom_events": len(result.oom_events),
    }
    if torch.cuda.is_available() and trainer.device.type == "cuda":
        out["peak_bytes"] = torch.cuda.max_memory_allocated(trainer.device)
    if val_data is not None:
        out["val_loss"] = trainer.evaluate(val_data)["val_loss"]
    return out


def _head(data, rows: int):
    """The first ``rows`` rows of an (X, y)/TensorDataset, to send to trial children; other data as is."""
    dataset = as_dataset(data)
    if isinstance(dataset, torch.utils.data.TensorDataset):
        return tuple(t[:rows] for t in dataset.tensors)
    return data


def _sample_batch(dataset, train_data) -> Any:
    """A few rows to estimate with: a loader's first batch, arrays' first rows, or a map-style dataset's
    first items collated (a generating dataset, such as episodes of a table, whose items are samples)."""
    if isinstance(dataset, torch.utils.data.DataLoader):
        return next(iter(dataset))
    if isinstance(dataset, torch.utils.data.TensorDataset):
        return _head(train_data, 4)
    return torch.utils.data.default_collate([dataset[i] for i in range(min(4, len(dataset)))])


def plan(
    model: nn.Module,
    train_data: Any,
    budget: Budget,
    quality_probe: QualityProbe | None = None,
    candidates: Sequence[TrainConfig] | None = None,
    base_config: TrainConfig | None = None,
    loss_fn: Callable | None = None,
    max_measured: int = 4,
    trial_steps: int = 3,
) -> Plan:
    """Find the fastest training config for ``model`` that fits ``budget``; see the module docstring.

    Parameters
    ----------
    model : nn.Module
    train_data : Dataset, DataLoader or (X, y)
    budget : Budget
        ``memory`` is checked against the estimate and enforced in the trials; ``time`` against the
        predicted full-run wall time (``base_config.epochs`` epochs of ``train_data``).
    quality_probe : QualityProbe, default=None
    candidates : sequence of TrainConfig, default=None
        Configs to consider instead of the enumeration (kept in the given order).
    base_config : TrainConfig, default=None
        The recipe the user wants (effective batch, lr, epochs, optimizer); ``TrainConfig()`` if None.
    max_measured : int, default=4
        Candidates predicted to fit that are measured for real; cheaper ones first.
    """
    if not isinstance(budget, Budget):
        raise bad_param("budget", "plan", "a Budget", type(budget).__name__)
    base = base_config or TrainConfig()
    device = budget.resolve_device()
    dataset = as_dataset(train_data)
    n_samples = len(dataset.dataset) if isinstance(dataset, torch.utils.data.DataLoader) else len(dataset)
    sample = _sample_batch(dataset, train_data)
    configs = list(candidates) if candidates is not None else enumerate_candidates(model, base, device)
    cands = [Candidate(config=c) for c in configs]

    probe_val = quality_probe.val_data if quality_probe is not None else None
    steps = quality_probe.steps if quality_probe is not None else trial_steps
    n_fit = 0
    process_floor = None  # the smallest measured non-tensor RSS of a training process so far (CPU)
    for cand in cands:
        if n_fit >= max_measured:
            cand.reason = f"not tried: {max_measured} cheaper candidates were measured to fit"
            continue
        if budget.memory is not None and process_floor is not None and 0.9 * process_floor > budget.memory:
            cand.verdict = "rejected"
            cand.reason = (
                f"the training process alone (interpreter, libraries) measured {format_bytes(process_floor)} "
                f"> budget {format_bytes(budget.memory)}"
            )
            continue
        cand.estimate = estimate(model, sample, cand.config, loss_fn=loss_fn, device=device)
        if _needs_release(cand, budget):
            cand.config = dataclasses.replace(cand.config, release_memory=True)
            cand.estimate = cand.estimate.released()
        if not device.startswith("cuda") and "process_baseline" in cand.estimate.allowances:
            baseline = cand.estimate.allowances["process_baseline"]
            process_floor = baseline if process_floor is None else min(process_floor, baseline)
        peak = _budgeted_peak(cand.estimate)
        if budget.memory is not None and peak > (1 - SAFETY_MARGIN) * budget.memory:
            cand.verdict = "rejected"
            cand.reason = f"estimated peak {format_bytes(peak)} > budget {format_bytes(budget.memory)}" + (
                "" if peak > budget.memory else f" less the {SAFETY_MARGIN:.0%} safety margin"
            )
            continue
        try:
            rows = cand.config.effective_batch * steps
            measured = _run_trial(
                model, _head(train_data, rows), cand.config, steps, probe_val, loss_fn, budget, device
            )
        except BudgetExceeded as exc:
            cand.verdict, cand.reason = "rejected", f"measured: {exc}"
            continue
        cand.measured = measured
        if measured["oom_events"]:
            cand.verdict, cand.reason = "rejected", "measured: out of memory (the engine had to halve micro_batch)"
            continue
        if budget.memory is not None and measured["peak_bytes"] > (1 - SAFETY_MARGIN) * budget.memory:
            # a few steps' peak varies run to run and can creep up over a long run: keep the same margin
            cand.verdict = "rejected"
            cand.reason = (
                f"measured peak {format_bytes(measured['peak_bytes'])} within the {SAFETY_MARGIN:.0%} safety margin "
                f"of the budget {format_bytes(budget.memory)}"
            )
            continue
        measured["seconds_per_sample"] = measured["step_time_s"] / max(1, measured["rows_per_step"])
        measured["predicted_fit_s"] = measured["seconds_per_sample"] * n_samples * base.epochs
        if budget.time is not None and measured["predicted_fit_s"] > budget.time:
            cand.verdict = "rejected"
            cand.reason = (
                f"predicted fit time {format_seconds(measured['predicted_fit_s'])} > budget "
                f"{format_seconds(budget.time)}"
            )
            continue
        cand.verdict, cand.reason = "fits", "fits the budget"
        n_fit += 1

    chosen = _choose([c for c in cands if c.verdict == "fits"], quality_probe)
    measured = [i for i, c in enumerate(cands) if c.measured is not None and c.verdict != "rejected"]
    front = pareto_front([(cands[i].measured["peak_bytes"], cands[i].measured["seconds_per_sample"]) for i in measured])
    return Plan(
        chosen=None if chosen is None else chosen.config,
        candidates=cands,
        frontier=[measured[i] for i in front],
        budget=budget,
        device=device,
        _model=model,
        _train_data=train_data,
        _loss_fn=loss_fn,
    )


def _run_trial(model, data, config, steps, val_data, loss_fn, budget: Budget, device: str) -> dict[str, float]:
    from tightfit.guard import run_limited

    limits = {"cuda_memory": budget.memory} if device.startswith("cuda") else {"memory": budget.memory}
    return run_limited(_trial, model, data, config, steps, val_data, loss_fn, time="10min", **limits)


def _choose(fits: list[Candidate], probe: QualityProbe | None) -> Candidate | None:
    if not fits:
        return None
    if probe is not None:
        best = min(c.measured["val_loss"] for c in fits)
        fits = [c for c in fits if c.measured["val_loss"] <= best + probe.tolerance * abs(best)]
    winner = min(fits, key=lambda c: c.measured["seconds_per_sample"])
    winner.verdict, winner.reason = (
        "chosen",
        "fastest that fits"
        + (f" with validation loss within {probe.tolerance:.0%} of the best" if probe is not None else ""),
    )
    return winner
