"""`choose_config`: the fine-tuning configuration of a tabular foundation model with the best held-out quality
that fits the memory and time budget — seed 003's ``choose_config``, searched and measured instead of looked up.

Two kinds of knob. The *quality* knobs change what the model learns: the strategy (``inference``, ``peft``
with a LoRA rank, ``base-ft``) and the episode size (support rows, query rows = support / 2). The *engine*
knobs only trade memory for time: precision, checkpointing and episodes per forward pass (the effective batch,
``batch_size`` x ``gradient_accumulation_steps``, stays). So the search is:

1. one entry per quality setting (the strategies the model supports x LoRA ranks x two episode sizes: the
   largest power of two the table allows, up to ``max_support``, and its half), cheapest first;
2. under a memory budget, each entry's engine knobs are the first that fit by the fake-tensor estimate of its
   real episode shapes (:func:`~tightfit.tabular.recipe.first_fit`: fp32 before bf16, no checkpointing before
   checkpointing, the most episodes per pass); an entry nothing fits is ``over_limit`` without running;
3. the rest run through the search core, each in a guarded child capped at the memory budget: the pipeline is
   fitted on four fifths of the rows with a short fine-tune (``probe_steps`` optimizer steps) and predicts the
   held-out fifth — the quality probe is what the pipeline itself does, scored by held-out log loss; the
   median step time projects the full fine-tune (``epochs`` x steps per epoch), judged against the time budget;
4. the best log loss wins; entries within ``tolerance`` (relative) of it are a tie that the shortest projected
   fit wins.

Keys the caller fixes (``fixed``: any ``tuning_params`` key; ``strategy``) are never varied. A model that is
not fine-tuned (LightGBM, TabPFN here) has only its inference entry, and the result says so.

    choice = choose_config("TinyTFM", X, y, Budget(memory="2GB", time="2min"))
    choice.strategy, choice.tuning_params; choice.rows(); choice.plot("pareto.png")
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tightfit.budget import Budget
from tightfit.errors import BudgetExceeded, ConfigError, DataError, SearchFailed
from tightfit.params import Interval, check
from tightfit.tabular.backends import model_spec, normalise_strategy
from tightfit.tabular.tuning import TuningParams

__all__ = ["ConfigChoice", "TuneSetting", "choose_config"]

HELD_OUT = 0.2  # the probe's held-out share of the rows
MIN_SUPPORT = 8
RANKS = (8, 4)
_ENGINE_KEYS = ("batch_size", "gradient_accumulation_steps", "mixed_precision", "gradient_checkpoint")
TABLE_COLUMNS = [("accuracy", "accuracy"), ("estimated_peak_bytes", "estimated step"), ("step_time_s", "time/step")]
# imported once by the guard's warm server instead of by every probe's child (fake tensors need torch._dynamo:
# 3.5 s to import)
CHILD_IMPORTS = ("tightfit.tabular.pipeline", "tightfit.tabular.classifier", "tightfit.tabular.finetune",
                 "tightfit.tabular.metrics", "tightfit.tabular.footprint", "tightfit.train", "torch._dynamo", "peft",
                 "sklearn.model_selection")  # fmt: skip


@dataclass(frozen=True)
class TuneSetting:
    """One candidate: the quality knobs (strategy, LoRA rank, support/query rows) and the engine knobs."""

    strategy: str  # "inference", "peft" or "base-ft"
    rank: int | None = None
    support: int = 0
    query: int = 0
    precision: str = "fp32"
    checkpointing: bool = False
    micro_batch: int = 4
    accumulation: int = 1

    @property
    def label(self) -> str:
        """``"peft r8, 256/128, fp32 4x1"``; ``"inference"``."""
        if self.strategy == "inference":
            return "inference"
        what = self.strategy + (f" r{self.rank}" if self.rank else "")
        engine = f"{self.precision} {self.micro_batch}x{self.accumulation}" + (", ckpt" if self.checkpointing else "")
        return f"{what}, {self.support}/{self.query}, {engine}"

    def tuning_params(self, base: dict[str, Any]) -> dict[str, Any]:
        """``base`` (the fixed keys) with this setting's knobs: the ``tuning_params`` a pipeline runs it with."""
        if self.strategy == "inference":
            from tightfit.tabular.pipeline import INFERENCE_KEYS

            return {k: v for k, v in base.items() if k in INFERENCE_KEYS}
        out = dict(base) | {
            "support_size": self.support, "query_size": self.query, "batch_size": self.micro_batch,
            "gradient_accumulation_steps": self.accumulation, "mixed_precision": self.precision,
            "gradient_checkpoint": self.checkpointing,
        }  # fmt: skip
        if self.strategy == "peft":
            lora = base.get("peft_config") or {}
            lora = dataclasses.asdict(lora) if dataclasses.is_dataclass(lora) else dict(lora)
            out["peft_config"] = lora | {"r": self.rank}
        return out

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class ConfigChoice:
    """The search's outcome: the chosen ``strategy`` and ``tuning_params`` (the fixed keys included), the
    :class:`~tightfit.search.Leaderboard` of every setting tried, the measured Pareto frontier of held-out log
    loss, peak memory and projected fit time (indices into ``leaderboard.entries``) and notes (what was not
    searched, and why)."""

    model_name: str
    strategy: str
    tuning_params: dict[str, Any]
    leaderboard: Any
    frontier: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The chosen setting in a few words (``"peft r8, 256/128, fp32 4x1"``)."""
        return self.leaderboard.chosen.name

    def rows(self) -> tuple[list[dict[str, str]], list[str]]:
        """Printable rows (held-out log loss, accuracy, estimated step peak, step time, projected fit, measured
        peak, verdict) and the footnotes with each verdict's reason."""
        return self.leaderboard.rows(TABLE_COLUMNS)

    def plot(self, path: str | Path) -> Path:
        """The memory-vs-time Pareto chart (seed 003 §6.1): measured peak against projected fit time per
        setting, colour = held-out log loss, the frontier outlined, the chosen one ringed, the budget as lines."""
        from tightfit.viz import plot_memory_time

        measured = [e for e in self.leaderboard.entries if e.measured is not None and e.measured.peak_bytes]
        front = [self.leaderboard.entries[i].name for i in self.frontier]
        return plot_memory_time(
            [e.name for e in measured], [e.measured.memory_peak_bytes for e in measured],
            [e.measured.projected_s or e.measured.fit_s for e in measured], [e.measured.quality for e in measured],
            [e.status for e in measured], path, front=front, memory_cap=self.leaderboard.budget.memory,
            time_cap=self.leaderboard.budget.time, quality_label="held-out log loss",
            title=f"{self.model_name}: fine-tuning settings, memory vs time",
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "strategy": self.strategy, "tuning_params": self.tuning_params,
                "frontier": self.frontier, "notes": self.notes, "leaderboard": self.leaderboard.to_dict()}  # fmt: skip


def choose_config(
    model_name: str,
    X: Any,
    y: Any,
    budget: Budget | None = None,
    *,
    strategy: str | None = None,
    fixed: dict[str, Any] | None = None,
    model_params: dict[str, Any] | None = None,
    probe_steps: int = 20,
    max_support: int = 512,
    ranks: tuple[int, ...] = RANKS,
    tolerance: float = 0.01,
    random_state: int = 0,
    deadline: Any = None,
    verbose: bool = True,
) -> ConfigChoice:
    """Search the fine-tuning settings of ``model_name`` on a classification table ``(X, y)``; see the module
    docstring.

    Parameters
    ----------
    budget : Budget, default=None
        ``memory`` caps each probe's process and selects the engine knobs; ``time`` is what the full fit of
        the chosen setting may take (each setting's projected fit is judged against it).
    strategy : {"inference", "base-ft", "peft"}, default=None
        Fix the strategy; None searches every one the model supports.
    fixed : dict, default=None
        ``tuning_params`` keys kept as given (``support_size``, ``mixed_precision``, ``peft_config``, ``epochs``,
        ...); the others are searched or left at their defaults.
    probe_steps : int, default=20
        Optimizer steps of each probe's fine-tune (the full fine-tune's, when it has fewer).
    max_support : int, default=512
        The largest support (context) size tried.
    ranks : tuple of int, default=(8, 4)
        LoRA ranks tried (``peft_config["r"]`` in ``fixed`` overrides).
    tolerance : float, default=0.01
        Held-out log losses within this share of the best tie; the shortest projected fit wins the tie.
    deadline : measure.Deadline, default=None
        When the search itself must end: no probe starts after it; the settings measured so far are chosen from.
    """
    from tightfit import guard
    from tightfit.search import Entry, run_candidates
    from tightfit.tabular.target import clean_target, take_rows

    spec = model_spec(model_name)
    check(
        "choose_config",
        budget=(budget, None, Budget),
        probe_steps=(probe_steps, Interval(int, 1)),
        max_support=(max_support, Interval(int, MIN_SUPPORT)),
        tolerance=(tolerance, Interval(float, 0)),
        random_state=(random_state, Interval(int, 0)),
        verbose=(verbose, bool),
    )
    if not isinstance(ranks, tuple) or not ranks or not all(isinstance(r, int) and r >= 1 for r in ranks):
        raise ConfigError(f"choose_config: ranks must be a non-empty tuple of positive ints; got {ranks!r}.")
    budget = budget or Budget()
    fixed = _fixed_keys(fixed)
    strategies = _strategies(spec, strategy, fixed)
    spec.check("classification", strategies[0], model_params or {})
    X, y, _, notes = clean_target(X, y, "classification")
    guard.warm_up(CHILD_IMPORTS)
    train, held_out = _split(y, random_state)
    if not spec.strategies[1:]:
        notes.append(f"{spec.name} is not fine-tuned: only its inference applies, so strategy, LoRA rank, episode "
                     "size, precision and checkpointing were not searched")  # fmt: skip
    settings = _settings(strategies, fixed, ranks, max_support, len(train))
    base = TuningParams.from_dict(fixed | {"show_progress": False, "seed": fixed.get("seed", random_state)})
    screen = None
    if budget.memory is not None and any(s.strategy != "inference" for s in settings):
        network, features = _network(spec.name, model_params, take_rows(X, train), y[train], random_state)
        screen = _EngineScreen(network, features, len(np.unique(y)), budget, fixed, base)
    evaluate = functools.partial(
        _probe, spec.name, take_rows(X, train), y[train], take_rows(X, held_out), y[held_out], fixed, model_params,
        budget.memory, min(probe_steps, _full_steps(base)), _full_steps(base),
    )  # fmt: skip
    entries = [Entry(s.label, s) for s in settings]
    board = run_candidates(
        entries, budget, evaluate,
        applies=("memory", "time"), margin=_margin(), deadline=deadline, screen=screen,
        choose=functools.partial(_choose, tolerance=tolerance), entity="setting", device=budget.resolve_device(),
        preload=CHILD_IMPORTS, verbose=verbose,
    )  # fmt: skip
    for entry in board.entries:  # the estimate beside what was measured, in the table
        if entry.measured is not None and "estimated_peak_bytes" in entry.details:
            entry.measured.extra["estimated_peak_bytes"] = entry.details["estimated_peak_bytes"]
    chosen = board.chosen
    if chosen is None:
        reasons = "; ".join(f"{e.name}: {e.reason}" for e in board.entries)
        kind = board.binding.binding
        if kind not in ("memory", "time"):
            raise SearchFailed(f"no fine-tuning setting of {spec.name} could be measured: {reasons}")
        raise BudgetExceeded(kind, getattr(budget, kind), None, detail=f"no setting of {spec.name} fits: {reasons}")
    setting = chosen.spec
    return ConfigChoice(spec.name, setting.strategy, setting.tuning_params(fixed), board, _frontier(board), notes)


def _margin() -> float:
    from tightfit.plan.search import SAFETY_MARGIN

    return SAFETY_MARGIN  # the probe ran on four fifths of the rows: the full fit holds a little more


def _fixed_keys(fixed: dict[str, Any] | None) -> dict[str, Any]:
    if fixed is None:
        return {}
    if not isinstance(fixed, dict):
        raise ConfigError(f"choose_config: fixed must be a dict of tuning_params keys; got {type(fixed).__name__}.")
    TuningParams.from_dict(fixed)  # unknown keys and bad values raise here, named
    return dict(fixed)


def _strategies(spec, strategy: str | None, fixed: dict[str, Any]) -> tuple[str, ...]:
    """The strategies searched: the given one, else every one the model supports (``peft_config`` fixed: peft)."""
    if strategy is not None:
        strategy = normalise_strategy(strategy)
        spec.check("classification", strategy, {})
        return (strategy,)
    if "peft_config" in fixed:
        spec.check("classification", "peft", {})
        return ("peft",)
    return tuple(s for s in ("inference", "peft", "base-ft") if s in spec.strategies)


def _split(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified row positions: four fifths for the probe's fit, one fifth held out for its quality."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(y))
    classes, counts = np.unique(y.astype(str) if y.dtype.kind == "O" else y, return_counts=True)
    if len(classes) < 2:
        raise DataError(f"y has a single class ({classes[0]!r}); a classifier needs at least two.")
    if len(y) < 20 or counts.min() < 2:
        raise DataError(f"choose_config needs at least 20 labelled rows and 2 of every class to hold a fifth out; "
                        f"got {len(y)} rows, the rarest class {counts.min()}.")  # fmt: skip
    return train_test_split(rows, test_size=HELD_OUT, random_state=seed, stratify=y)


def _settings(strategies, fixed: dict[str, Any], ranks, max_support: int, rows: int) -> list[TuneSetting]:
    """The quality grid, cheapest first: inference, then LoRA (highest rank first) and full fine-tuning, the
    smaller episode before the larger."""
    from tightfit.tabular.finetune import VALIDATION_FRACTION

    if "support_size" in fixed:
        supports = [fixed["support_size"]]
    else:  # an episode draws support + query rows from the fine-tune's own training share
        usable = int((1 - VALIDATION_FRACTION) * rows * 2 / 3)
        largest = max(MIN_SUPPORT, min(max_support, 1 << max(0, usable.bit_length() - 1)))
        supports = sorted({largest, max(MIN_SUPPORT, largest // 2)})
    lora = fixed.get("peft_config")
    rank = lora.get("r") if isinstance(lora, dict) else getattr(lora, "r", None)
    lora_ranks = (rank,) if rank else ranks
    out = [TuneSetting("inference")] if "inference" in strategies else []
    for support in supports:
        query = fixed.get("query_size", max(1, support // 2))
        for strategy in ("peft", "base-ft"):
            if strategy in strategies:
                for rank in lora_ranks if strategy == "peft" else (None,):
                    out.append(TuneSetting(strategy, rank, support, query, **_engine_defaults(fixed)))
    return out


def _engine_defaults(fixed: dict[str, Any]) -> dict[str, Any]:
    """The engine knobs with no memory budget: the fixed ones, else the defaults (fp32, no checkpointing)."""
    base = TuningParams.from_dict({k: v for k, v in fixed.items() if k in _ENGINE_KEYS})
    return {"precision": base.mixed_precision, "checkpointing": base.gradient_checkpoint,
            "micro_batch": base.batch_size, "accumulation": base.gradient_accumulation_steps}  # fmt: skip


def _full_steps(params: TuningParams) -> int:
    """Optimizer steps of the full fine-tune (early stopping may end it sooner)."""
    per_step = params.batch_size * params.gradient_accumulation_steps
    return params.epochs * max(1, params.episodes_per_epoch // per_step)


def _network(model_name: str, model_params, X, y, seed: int):
    """The model's network as the pipeline builds it (a checkpoint is loaded), to estimate steps with, and the
    width of the table it sees after preprocessing."""
    from tightfit.tabular.pipeline import TabularPipeline
    from tightfit.tabular.target import take_rows

    pipe = TabularPipeline(model_name, model_params=model_params, tuning_params={"seed": seed, "device": "cpu"})
    pipe.fit(X, y)  # zero-shot: the context is stored, nothing is trained
    return pipe.model_.model_, pipe.processor_.transform(take_rows(X, np.arange(1))).shape[1]


class _EngineScreen:
    """Under a memory budget: each fine-tuning setting's engine knobs, the first that fit by the estimate of its
    real episode shapes; a setting nothing fits is over the limit before it runs."""

    def __init__(self, network, features: int, n_classes: int, budget: Budget, fixed: dict[str, Any],
                 base: TuningParams) -> None:  # fmt: skip
        from tightfit.tabular.recipe import _Costs

        self.budget, self.fixed, self.base = budget, fixed, base
        self.costs = _Costs(network, features, n_classes, budget.resolve_device())

    def __call__(self, entry) -> Any:
        from tightfit.search import Verdict
        from tightfit.tabular.recipe import StepShape, first_fit

        setting: TuneSetting = entry.spec
        if setting.strategy == "inference":
            return None  # its prediction is planned by the pipeline itself, measured in the probe
        precisions = [self.base.mixed_precision] if "mixed_precision" in self.fixed else ["fp32", "bf16"]
        checkpointing = [self.base.gradient_checkpoint] if "gradient_checkpoint" in self.fixed else [False, True]
        per_step = self.base.batch_size * self.base.gradient_accumulation_steps
        micro = [self.base.batch_size] if "batch_size" in self.fixed else [b for b in range(1, per_step + 1)
                                                                           if per_step % b == 0]  # fmt: skip
        shapes = [StepShape(setting.support, setting.strategy, setting.rank, p, c, setting.query)
                  for p in precisions for c in checkpointing]  # fmt: skip
        row = first_fit(self.costs, self.budget.memory, shapes, micro, self.costs.device)
        if row.shape is None:
            return Verdict.over_limit("memory", None, self.budget.memory, f"estimated: {row.reason} (90% of the "
                                      "budget is the limit)")  # fmt: skip
        entry.spec = dataclasses.replace(setting, precision=row.shape.precision, checkpointing=row.shape.checkpointing,
                                         micro_batch=row.micro_batch, accumulation=row.accumulation)  # fmt: skip
        entry.name = entry.spec.label
        entry.details["estimated_peak_bytes"] = row.budgeted_peak
        return None


def _probe(model_name, X_train, y_train, X_held, y_held, fixed, model_params, memory, probe_steps, full_steps,
           setting: TuneSetting, time_left):  # fmt: skip
    """In the child: the pipeline fitted with ``setting`` (a ``probe_steps``-step fine-tune) on the training
    rows, then the held-out rows predicted; held-out log loss, accuracy, fit time and the projected full fit."""
    from tightfit.measure import stopwatch
    from tightfit.search import Measured
    from tightfit.tabular.metrics import classification_metrics
    from tightfit.tabular.pipeline import TabularPipeline

    params = setting.tuning_params(fixed)
    if setting.strategy != "inference":
        params |= {"epochs": 1, "steps_per_epoch": probe_steps, "early_stopping": False, "show_progress": False}
        params.pop("n_episodes", None)
    pipe = TabularPipeline(model_name, tuning_strategy=setting.strategy, tuning_params=params,
                           model_params=model_params, budget=Budget(memory=memory))  # fmt: skip
    pipe._engine_planned = True  # the engine knobs were chosen by the search: the fine-tune does not re-plan them
    _, fit_s = stopwatch(pipe.fit, X_train, y_train)
    scores = classification_metrics(y_held, pipe.predict_proba(X_held), pipe.classes_)
    extra = {"accuracy": scores["accuracy"]}
    projected = fit_s
    if pipe.finetune_ is not None:
        train = pipe.finetune_.train
        extra |= {"step_time_s": train.step_time_s, "probe_steps": train.steps, "kept": pipe.finetune_.kept}
        projected = fit_s + train.step_time_s * max(0, full_steps - train.steps)
    return Measured(quality=scores["log_loss"], metric="log_loss", higher_is_better=False, fit_s=fit_s,
                    projected_s=projected, extra=extra)  # fmt: skip


def _choose(fits: list, tolerance: float) -> tuple[Any, str]:
    best = min(e.measured.quality for e in fits)
    tied = [e for e in fits if e.measured.quality <= best + tolerance * abs(best)]
    winner = min(tied, key=lambda e: e.measured.projected_s or e.measured.fit_s or 0.0)
    return winner, (f"shortest projected fit among the {len(tied)} with held-out log loss within {tolerance:.0%} "
                    f"of the best ({best:.4f}), of {len(fits)} that fit")  # fmt: skip


def _frontier(board) -> list[int]:
    """The measured settings no other one beats on held-out log loss, peak memory and projected fit time at once
    (every cheaper setting is worse somewhere): the trade-offs worth choosing between."""
    points = {i: (e.measured.quality, e.measured.memory_peak_bytes, e.measured.projected_s or 0.0)
              for i, e in enumerate(board.entries)
              if e.status in ("fits", "chosen") and e.measured and e.measured.memory_peak_bytes}  # fmt: skip
    return [i for i, p in points.items()
            if not any(q != p and all(a <= b for a, b in zip(q, p, strict=True)) for q in points.values())]  # fmt: skip
