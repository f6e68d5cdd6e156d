"""`plan(model, train_data, budget)`: search the engine's techniques for the fastest config that fits.

The planner is one client of the search core (:func:`tightfit.search.run_candidates`):

1. Entries are the product of every registered training technique's options
   (:data:`tightfit.train.techniques.TECHNIQUES`: precision x micro-batch keeping the effective batch x
   checkpointing x LoRA x optimizer), ordered cheapest-first by the slow-downs each brings.
2. The screen estimates each under fake tensors (``estimate``) and puts those predicted over the memory budget
   less a safety margin (``SAFETY_MARGIN``, what the process-RSS model can miss by) ``over_limit`` without
   running them. On the CPU, a candidate whose process could outgrow the budget through the C allocator's
   drift over a long run releases freed memory to the OS instead (``TrainConfig.release_memory``).
3. The survivors run a few real steps in a guarded child under the memory budget: the guard's peak, the time
   per sample and the full-run time it predicts are judged like every search's figures (a measured peak
   within the safety margin breaks the memory limit too: a few steps' peak creeps up over a long run). The
   search stops once ``max_measured`` candidates were measured to fit.
4. With a quality probe, the fastest config whose validation loss is within ``tolerance`` of the best is
   chosen; otherwise the fastest that fits among those that train what the base recipe trains, with its
   optimizer: LoRA (the base frozen) or another optimizer is chosen without a probe only when none of those
   fits, since nothing then shows it learns as well.

With ``world_size`` > 1 the devices are not here: "more devices" is one more technique. The user's effective
batch is the global one, each rank taking its share; every config is tried replicated (``shard="ddp"``) and,
on CUDA, sharded (``"fsdp"``), screened by the per-rank estimate (:mod:`tightfit.plan.sharding`), and the
cheapest that fits is chosen without trials (the rows say "estimated"). :func:`launch_files` then writes the
``torchrun`` line, an Accelerate config and the script they launch.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from tightfit.budget import Budget
from tightfit.errors import ConfigError
from tightfit.params import Interval, check
from tightfit.plan.estimate import FRAGMENTATION_BOUND, Estimate, estimate
from tightfit.plan.pareto import pareto_front, plot_plan
from tightfit.search import Entry, Leaderboard, Measured, Triage, Verdict, run_candidates
from tightfit.search.executors import check_executor
from tightfit.train.config import TrainConfig
from tightfit.train.data import as_dataset
from tightfit.train.techniques import TECHNIQUES
from tightfit.units import format_bytes

__all__ = ["Plan", "QualityProbe", "config_label", "enumerate_candidates", "plan"]

log = logging.getLogger(__name__)

SAFETY_MARGIN = 0.10  # a candidate is predicted to fit only below 90% of the memory budget (RSS model error)
TRIAL_TIME_CAP_S = 600.0  # one trial's own time limit
SAME_FAILURES = 3  # configs in a row failing with one error: the workload's fault (its loss, its data), not theirs
MIN_TRIAL_S = 0.5  # under a planning deadline, no trial starts with less left (a forked trial: 0.3-2 s, 2 cores)
_PLAN_COLUMNS = [("estimated_peak_bytes", "estimated peak"), ("seconds_per_sample_s", "time/sample"),
                 ("val_loss", "val loss")]  # fmt: skip


@dataclass(frozen=True)
class QualityProbe:
    """Rank finalists by validation loss after ``steps`` optimizer steps; keep those within ``tolerance``
    (relative) of the best."""

    val_data: Any
    steps: int = 30
    tolerance: float = 0.05

    def __post_init__(self) -> None:
        check("QualityProbe", steps=(self.steps, Interval(int, 1)), tolerance=(self.tolerance, Interval(float, 0)))


def config_label(c: TrainConfig) -> str:
    """A config in a few words: ``"bf16, mb 64x2, ckpt, LoRA r8, adamw"``."""
    parts = [c.precision, f"mb {c.micro_batch}x{c.accumulation}"]
    if c.checkpointing:
        parts.append("ckpt")
    if c.lora is not None:
        parts.append(f"LoRA r{c.lora.r}")
    parts.append(c.optimizer)
    if c.release_memory:
        parts.append("release")
    return ", ".join(parts)


@dataclass
class Plan:
    """The search's outcome: ``chosen`` (None when nothing fits), the :class:`~tightfit.search.Leaderboard`
    with every candidate (an :class:`~tightfit.search.Entry` whose ``spec`` is its ``TrainConfig`` and whose
    ``details["estimate"]`` is its :class:`Estimate`), and the measured Pareto frontier (indices into
    ``candidates``: peak memory vs time per sample)."""

    chosen: TrainConfig | None
    leaderboard: Leaderboard
    frontier: list[int] = field(default_factory=list)
    device: str = "cpu"
    world_size: int = 1
    _model: Any = field(default=None, repr=False)
    _train_data: Any = field(default=None, repr=False)
    _loss_fn: Any = field(default=None, repr=False)

    @property
    def candidates(self) -> list[Entry]:
        return self.leaderboard.entries

    @property
    def budget(self) -> Budget:
        return self.leaderboard.budget

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen": None if self.chosen is None else self.chosen.to_dict(),
            "device": self.device,
            "world_size": self.world_size,
            "frontier": self.frontier,
            "leaderboard": self.leaderboard.to_dict(),
        }

    def rows(self) -> tuple[list[dict[str, str]], list[str]]:
        """Printable rows (config, estimated and measured peak, time per sample, predicted fit, verdict) and
        the footnotes with each verdict's reason."""
        return self.leaderboard.rows(_PLAN_COLUMNS)

    def plot(self, path) -> Any:
        """Pareto chart: peak memory vs time per sample (marker = quality where probed), budget as lines."""
        return plot_plan(self, path)

    def run(self, val_data: Any = None, verbose: bool = True, **fit_kwargs: Any):
        """Train the model with the chosen config through the engine; returns the ``TrainResult``."""
        from tightfit.train.engine import Trainer

        if self.chosen is None:
            raise ConfigError("no candidate fits the budget; see plan.rows() for each rejection's reason.")
        if self.world_size > 1:
            raise ConfigError(f"a plan for world_size={self.world_size} runs on its ranks: write its launch files with "
                              "launch_files(plan, ...) and start them with torchrun or accelerate launch.")  # fmt: skip
        config = dataclasses.replace(self.chosen, verbose=verbose)
        return Trainer(self._model, self._loss_fn, config).fit(
            self._train_data, val_data=val_data, budget=self.budget, **fit_kwargs
        )


def below_the_process(floor: int | None, budget: Budget) -> bool:
    """Whether the memory budget is below what the training process itself (interpreter and libraries, no
    tensors) takes on the CPU, within the measurement's 10%: no training technique can lower that."""
    return budget.memory is not None and floor is not None and 0.9 * floor > budget.memory


def unless_below_the_process(result: Triage, floor: int | None, budget: Budget) -> Triage:
    """``result``, or, when the memory budget is below the training process itself (:func:`below_the_process`),
    memory as the binding limit with no technique to relax it: none lowers the interpreter and its libraries."""
    if not below_the_process(floor, budget):
        return result
    evidence = (
        f"the training process alone (interpreter, libraries) takes {format_bytes(floor)} > budget "
        f"{format_bytes(budget.memory)}: no training technique lowers that; raise the memory budget"
    )
    return dataclasses.replace(result, binding="memory", evidence=evidence, techniques=[])


def _budgeted_peak(est: Estimate) -> int:
    return est.device_peak if est.device.startswith("cuda") else est.process_peak


def _needs_release(config: TrainConfig, est: Estimate, budget: Budget) -> bool:
    """CPU under a memory budget: whether the default allocator's drift could break the budget over a long run.

    A few trial steps cannot show that drift (it grows with steps), so the default allocator is kept only
    when the process fits with ``FRAGMENTATION_BOUND`` of the tensor peak kept on top; otherwise the config
    releases freed memory at once (``TrainConfig.release_memory``), whose RSS is steady and predicted by
    baseline + tensors.
    """
    if budget.memory is None or config.release_memory or "process_baseline" not in est.allowances:
        return False
    drifted = est.allowances["process_baseline"] + (1 + FRAGMENTATION_BOUND) * est.peak
    return max(drifted, est.allowances.get("startup_peak", 0)) > (1 - SAFETY_MARGIN) * budget.memory


def enumerate_candidates(
    model: nn.Module, base: TrainConfig, device: str, keep: Sequence[str] = ()
) -> list[TrainConfig]:
    """Every combination of the registered techniques' options, cheapest first (the sort key sums the
    slow-downs each technique brings). ``keep``: technique ids left at the base recipe's setting."""
    for technique in keep:
        TECHNIQUES.technique(technique)  # an unknown id: ConfigError with the closest one
    knobs = [TECHNIQUES[t] for t in TECHNIQUES if t not in keep]
    choices = [knob.options(model, base, device) or [{}] for knob in knobs]
    configs = []
    for combination in itertools.product(*choices):
        overrides = {k: v for option in combination for k, v in option.items()}
        configs.append(dataclasses.replace(base, verbose=False, **overrides))

    def cost(c: TrainConfig) -> tuple:
        return (sum(knob.cost(c, base, device) for knob in knobs), c.precision != "fp32")

    return sorted(dict.fromkeys(configs), key=cost)


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
        out["cuda"] = True
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
    deadline: Any = None,
    verbose: bool = False,
    world_size: int = 1,
    executor: str = "local",
) -> Plan:
    """Find the fastest training config for ``model`` that fits ``budget``; see the module docstring.

    Parameters
    ----------
    model : nn.Module
    train_data : Dataset, DataLoader or (X, y)
    budget : Budget
        ``memory`` is checked against the estimate and enforced in the trials; ``time`` against the
        predicted full-run wall time (``base_config.epochs`` epochs of ``train_data``). ``latency`` and
        ``size`` do not apply to training and are named as ignored in the leaderboard.
    quality_probe : QualityProbe, default=None
    candidates : sequence of TrainConfig, default=None
        Configs to consider instead of the enumeration (kept in the given order).
    base_config : TrainConfig, default=None
        The recipe the user wants (effective batch, lr, epochs, optimizer); ``TrainConfig()`` if None.
    max_measured : int, default=4
        Candidates predicted to fit that are measured for real; cheaper ones first.
    deadline : measure.Deadline, default=None
        When the planning itself must end (``tightfit plan --time``), distinct from ``budget.time``, which
        bounds the planned training run: no trial starts after it, a running one is stopped at it, and the
        configs measured so far are kept and chosen from.
    world_size : int, default=1
        Plan for this many ranks (devices) of a data-parallel run, per rank and without the devices; see the
        module docstring.
    executor : {"local", "ray"}, default="local"
        Where each trial runs: a guarded child here, or a Ray task (the same guard inside it).
    """
    check(
        "plan",
        budget=(budget, Budget),
        model=(model, nn.Module),
        quality_probe=(quality_probe, None, QualityProbe),
        base_config=(base_config, None, TrainConfig),
        max_measured=(max_measured, Interval(int, 1)),
        trial_steps=(trial_steps, Interval(int, 1)),
        world_size=(world_size, Interval(int, 1)),
    )
    check_executor("plan", executor, allowed=("local", "ray"))
    base = base_config or TrainConfig()
    if world_size > 1:  # planning for devices that need not be here: a CUDA budget is planned for from any box
        device = budget.device if str(budget.device).startswith("cuda") else budget.resolve_device()
        return _plan_ranks(model, train_data, budget, base, candidates, loss_fn, device, world_size, verbose)
    device = budget.resolve_device()
    dataset = as_dataset(train_data)
    n_samples = len(dataset.dataset) if isinstance(dataset, torch.utils.data.DataLoader) else len(dataset)
    sample = _sample_batch(dataset, train_data)
    configs = list(candidates) if candidates is not None else enumerate_candidates(model, base, device)
    entries = [Entry(config_label(c), c) for c in configs]
    steps = quality_probe.steps if quality_probe is not None else trial_steps
    rows = max(c.effective_batch for c in configs) * steps
    evaluate = functools.partial(
        _evaluate_trial, model, _head(train_data, rows), steps, quality_probe and quality_probe.val_data, loss_fn,
        n_samples * base.epochs,
    )  # fmt: skip
    screen = _Screen(model, sample, loss_fn, device, budget)
    board = run_candidates(
        entries, budget, evaluate, executor=executor,
        applies=("memory", "time"), entry_time_cap=TRIAL_TIME_CAP_S, margin=SAFETY_MARGIN, stop_after=max_measured,
        same_failures=SAME_FAILURES, deadline=deadline, min_seconds=MIN_TRIAL_S if deadline is not None else 0.0,
        screen=screen, check_entry=_no_backoff,
        choose=functools.partial(_choose, probe=quality_probe, base=base), techniques=TECHNIQUES, entity="config",
        device=device, verbose=verbose,
    )  # fmt: skip
    if board.chosen is None:
        board.binding = unless_below_the_process(board.binding, screen.process_floor, budget)
    measured = [i for i, e in enumerate(board.entries) if e.measured is not None and e.status in ("fits", "chosen")]
    front = pareto_front([(board.entries[i].measured.memory_peak_bytes,
                           board.entries[i].measured.extra["seconds_per_sample_s"]) for i in measured])  # fmt: skip
    chosen = board.chosen
    return Plan(
        chosen=None if chosen is None else chosen.spec,
        leaderboard=board,
        frontier=[measured[i] for i in front],
        device=device,
        _model=model,
        _train_data=train_data,
        _loss_fn=loss_fn,
    )


def _rank_configs(model, base: TrainConfig, device: str, world_size: int, candidates) -> list[TrainConfig]:
    """Per-rank configs of a ``world_size``-rank run with the base's global effective batch, each replicated
    and then (on CUDA) sharded."""
    if candidates is None:
        if base.micro_batch % world_size:
            raise ConfigError(
                f"base_config.micro_batch={base.micro_batch} is the global batch of one micro-step and must split "
                f"evenly over world_size={world_size} ranks."
            )
        per_rank = dataclasses.replace(base, micro_batch=base.micro_batch // world_size)
        candidates = enumerate_candidates(model, per_rank, device, keep=("release_memory",))
    shards = ("ddp", "fsdp") if device.startswith("cuda") else ("ddp",)
    # each recipe replicated, then sharded: more devices relieve memory without touching the recipe (no lower
    # precision, no recomputation), at the cost of a gather per block per step
    return [dataclasses.replace(c, shard=s) for c in candidates for s in ([c.shard] if c.shard else shards)]


def _plan_ranks(model, train_data, budget, base, candidates, loss_fn, device, world_size, verbose) -> Plan:
    """The ``world_size`` > 1 plan: every candidate screened by its per-rank estimate, the cheapest that fits
    chosen (the ranks are not here to run trials)."""
    configs = _rank_configs(model, base, device, world_size, candidates)
    sample = _sample_batch(as_dataset(train_data), train_data)
    entries = [Entry(f"{config_label(c)}, {c.shard} x{world_size}", c) for c in configs]
    screen = _Screen(model, sample, loss_fn, device, budget, world_size)
    board = run_candidates(
        entries, budget, functools.partial(_estimated_rank, screen), executor="inline", applies=("memory",),
        margin=SAFETY_MARGIN, stop_after=1, screen=screen,
        choose=_cheapest, techniques=TECHNIQUES, entity="config", device=device, verbose=verbose,
    )  # fmt: skip
    chosen = board.chosen
    return Plan(chosen=None if chosen is None else chosen.spec, leaderboard=board, device=device, _model=model,
                _train_data=train_data, _loss_fn=loss_fn, world_size=world_size)  # fmt: skip


def _estimated_rank(screen: _Screen, config: TrainConfig, time_left) -> Measured:
    """No trial: a rank's figures are the screen's estimate."""
    peak = _budgeted_peak(screen.estimates[config])
    return Measured(device_peak_bytes=peak, extra={"estimated_peak_bytes": peak})


def _cheapest(fits: list[Entry]) -> tuple[Entry, str]:
    return fits[0], "the cheapest per-rank configuration estimated to fit (no trial: the ranks are not here)"


class _Screen:
    """Before a trial: reject by the fake-tensor estimate, or by the process floor measured so far."""

    def __init__(self, model, sample, loss_fn, device: str, budget: Budget, world_size: int = 1) -> None:
        self.model, self.sample, self.loss_fn, self.device, self.budget = model, sample, loss_fn, device, budget
        self.world_size = world_size
        self.estimates: dict[TrainConfig, Estimate] = {}
        self.process_floor: int | None = None  # the smallest measured non-tensor RSS of a training process (CPU)

    def __call__(self, entry: Entry) -> Verdict | None:
        cap = self.budget.memory
        if below_the_process(self.process_floor, self.budget):
            return Verdict.over_limit("memory", self.process_floor, cap, (
                f"the training process alone (interpreter, libraries) measured {format_bytes(self.process_floor)} "
                f"> budget {format_bytes(cap)}"))  # fmt: skip
        est = estimate(self.model, self.sample, entry.spec, loss_fn=self.loss_fn, device=self.device,
                       world_size=self.world_size)  # fmt: skip
        if _needs_release(entry.spec, est, self.budget):
            entry.spec = dataclasses.replace(entry.spec, release_memory=True)
            entry.name = config_label(entry.spec)
            est = est.released()
        entry.details["estimate"] = self.estimates[entry.spec] = est
        if not self.device.startswith("cuda") and "process_baseline" in est.allowances:
            baseline = est.allowances["process_baseline"]
            self.process_floor = baseline if self.process_floor is None else min(self.process_floor, baseline)
        peak = _budgeted_peak(est)
        if cap is not None and peak > (1 - SAFETY_MARGIN) * cap:
            margin = "" if peak > cap else f" less the {SAFETY_MARGIN:.0%} safety margin"
            return Verdict.over_limit(
                "memory", peak, cap, f"estimated peak {format_bytes(peak)} > budget {format_bytes(cap)}{margin}"
            )
        return None


def _evaluate_trial(model, data, steps, val_data, loss_fn, samples_per_run, config, time_left) -> Measured:
    """In the child: a few real steps; the time per sample predicts the full run (``projected_s``)."""
    out = _trial(model, data, config, steps, val_data, loss_fn)
    per_sample = out["step_time_s"] / max(1, out["rows_per_step"])
    extra = {"seconds_per_sample_s": per_sample, "step_time_s": out["step_time_s"], "oom_events": out["oom_events"]}
    quality = {}
    if "val_loss" in out:
        extra["val_loss"] = out["val_loss"]
        quality = {"quality": out["val_loss"], "metric": "val_loss", "higher_is_better": False}
    device_peak = out["peak_bytes"] if out.get("cuda") else None  # on the CPU the guard measures the child
    return Measured(device_peak_bytes=device_peak,
                    projected_s=per_sample * samples_per_run, extra=extra, **quality)  # fmt: skip


def _no_backoff(entry: Entry) -> Verdict | None:
    if entry.measured.extra["oom_events"]:
        return Verdict.over_limit("memory", entry.measured.peak_bytes, entry.measured.peak_bytes or 0,
                                  "measured: out of memory (the engine had to halve micro_batch)")  # fmt: skip
    return None


def _choose(fits: list[Entry], probe: QualityProbe | None, base: TrainConfig) -> tuple[Entry, str]:
    """The fastest fit; with a probe, among those within its tolerance of the best validation loss. Without one,
    nothing shows that a config training other weights (LoRA freezes the base) or with another optimizer learns
    as well as the recipe: such a config is chosen only when no config keeping the recipe's fits."""
    if probe is not None:
        best = min(e.measured.extra["val_loss"] for e in fits)
        fits = [e for e in fits if e.measured.extra["val_loss"] <= best + probe.tolerance * abs(best)]
        winner = min(fits, key=lambda e: e.measured.extra["seconds_per_sample_s"])
        return winner, f"fastest that fits with validation loss within {probe.tolerance:.0%} of the best"
    faithful = [e for e in fits if (e.spec.lora, e.spec.optimizer) == (base.lora, base.optimizer)]
    pace = lambda e: e.measured.extra["seconds_per_sample_s"]  # noqa: E731
    winner, quickest = min(faithful or fits, key=pace), min(fits, key=pace)
    if not faithful:
        return winner, "fastest that fits; none with the recipe's trainable weights and optimizer fits"
    if quickest is not winner:
        return winner, (f"fastest that fits with the recipe's trainable weights and optimizer ({quickest.name}: "
                        f"{pace(winner) / pace(quickest):.1f}x faster, but it changes what is learned; a "
                        "QualityProbe weighs that)")  # fmt: skip
    return winner, "fastest that fits"
