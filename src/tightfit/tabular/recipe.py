"""Fine-tuning recipes per memory size for a tabular foundation model, computed from its real architecture.

Seed 003's guide lists, per GPU size, a strategy, LoRA rank, batch, support/query sizes, precision and
checkpointing, with unsourced memory figures. :func:`recipe` derives the same table: every fine-tuning step
it considers is estimated with :func:`~tightfit.plan.estimate` (fake tensors through the training engine, the
model's real episode shapes), so each figure is a prediction of that step's peak, not a rule of thumb.

The search, per memory size, takes the first configuration that fits in this order of preference — what
helps quality first, what only costs time last:

1. the largest episode (support + query rows: the context an in-context model learns from), halving from
   ``max_support`` down to 32 rows, never more than the table has;
2. full fine-tuning, then LoRA (rank 8, 4, 2 — a rank below 8 is costed as rank 8, an upper bound, since its
   adapters are smaller);
3. fp32, then bf16 autocast; checkpointing off, then on;
4. the most episodes per forward pass (micro-batch) up to ``episodes_per_step``, accumulating the rest.

A size fits a step when the step's peak, with what the device or process adds, is within 90% of it (the
planner's safety margin: allocator fragmentation, estimate error).

A step's peak is affine in the micro-batch (the weights, gradients and optimizer state do not grow with it,
activations grow linearly), so each configuration costs two estimates, at micro-batch 1 and 2; the chosen one
is then estimated at its own micro-batch to confirm. On a GPU the budget also pays the CUDA context and the
cuBLAS workspace (:mod:`tightfit.plan.estimate`'s allowances); those figures are predictions until a GPU run
confirms them. TinyTFM's rows also carry its prediction plan (:mod:`tightfit.tabular.footprint`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

from tightfit.errors import ConfigError
from tightfit.params import Interval, check, check_device
from tightfit.units import format_bytes

__all__ = ["RECIPE_MODELS", "Recipe", "RecipeRow", "StepShape", "build_architecture", "first_fit", "recipe"]

RECIPE_MODELS = ("TinyTFM", "TabICL")
RANKS = (8, 4, 2)
MIN_SUPPORT = 32
QUERY_SHARE = 2  # query rows = support rows / 2, as in seed 003's recipes


@dataclass(frozen=True)
class StepShape:
    """One fine-tuning configuration, the micro-batch aside."""

    support: int
    strategy: str  # "base-ft" or "peft"
    rank: int | None
    precision: str
    checkpointing: bool
    query_size: int | None = None  # None: support / 2

    @property
    def query(self) -> int:
        return self.query_size or max(1, self.support // QUERY_SHARE)


@dataclass
class RecipeRow:
    """The configuration chosen for one memory size, or why none fits."""

    memory: int
    shape: StepShape | None
    micro_batch: int = 0
    accumulation: int = 0
    estimated_peak: int = 0  # the step's tensors (device_peak on CUDA)
    budgeted_peak: int = 0  # what is held against the memory size (plus the CUDA context on a GPU)
    measured_peak: int | None = None
    predict: dict[str, Any] | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["shape"] = None if self.shape is None else dataclasses.asdict(self.shape) | {"query": self.shape.query}
        return data


@dataclass
class Recipe:
    """A recipe table: the model, the table's shape, the device planned for, and one row per memory size."""

    model_name: str
    rows: int
    features: int
    device: str
    rows_by_memory: list[RecipeRow] = field(default_factory=list)
    estimates: int = 0
    note: str = ""

    def table(self) -> list[dict[str, str]]:
        """Printable rows, seed 003's columns ("-" where a size has nothing that fits)."""
        out = []
        for r in self.rows_by_memory:
            s = r.shape
            row = dict.fromkeys(("strategy", "batch", "support/query", "precision", "ckpt", "predicted peak"), "-")
            row = {"memory": format_bytes(r.memory)} | row
            if s is not None:
                row |= {
                    "strategy": s.strategy + (f" r{s.rank}" if s.rank else ""),
                    "batch": f"{r.micro_batch}x{r.accumulation}",
                    "support/query": f"{s.support}/{s.query}",
                    "precision": s.precision,
                    "ckpt": "on" if s.checkpointing else "off",
                    "predicted peak": format_bytes(r.budgeted_peak),
                }
            else:
                row["strategy"] = f"none fits ({r.reason})"
            if any(x.measured_peak is not None for x in self.rows_by_memory):
                row["measured step"] = "-" if r.measured_peak is None else format_bytes(r.measured_peak)
            if r.predict is not None:
                row["predict"] = r.predict["label"]
            out.append(row)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "rows": self.rows, "features": self.features, "device": self.device,
                "estimates": self.estimates, "note": self.note,
                "rows_by_memory": [r.to_dict() for r in self.rows_by_memory]}  # fmt: skip


def build_architecture(model_name: str, config: dict[str, Any] | None = None) -> torch.nn.Module:
    """The model's real architecture with random weights (no download): TinyTFM's shipped configuration, or
    TabICL's defaults (its released checkpoints' shape); ``config`` overrides the architecture's arguments."""
    torch.manual_seed(0)
    if model_name == "TinyTFM":
        from tightfit.tabular.classifier import _load, shipped_weights
        from tightfit.tabular.models.tiny import TinyTFM, TinyTFMConfig

        shipped = _load(str(shipped_weights()), "cpu").config
        return TinyTFM(TinyTFMConfig(**(dataclasses.asdict(shipped) | (config or {}))))
    if model_name == "TabICL":
        from tabicl._model.tabicl import TabICL

        return TabICL(**(config or {}))
    raise ConfigError(f"model {model_name!r} has no recipe; one of {', '.join(RECIPE_MODELS)} (TabPFN is inference "
                      "only here, and the classical models are not fine-tuned).")  # fmt: skip


def _episode(batch: int, support: int, query: int, features: int, n_classes: int):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, support + query, features, generator=generator)
    return (
        x,
        torch.randint(0, n_classes, (batch, support), generator=generator),
        torch.randint(0, n_classes, (batch, query), generator=generator),
    )


class _Costs:
    """Fake-tensor estimates of a step, cached by (shape, micro-batch, device)."""

    def __init__(self, model, features: int, n_classes: int, device: str) -> None:
        from tightfit.tabular.finetune import output_classes

        self.model, self.features, self.device = model, features, device
        self.n_classes = min(n_classes, output_classes(model))  # episodes label at most what the model outputs
        self.cache: dict[tuple[StepShape, int, str], Any] = {}  # (shape, micro-batch, device) -> Estimate

    def config(self, shape: StepShape, micro_batch: int):
        from tightfit.train import LoraSpec, TrainConfig

        return TrainConfig(
            micro_batch=micro_batch, precision=shape.precision, checkpointing=shape.checkpointing,
            lora=None if shape.strategy == "base-ft" else LoraSpec(r=shape.rank or max(RANKS)), verbose=False,
        )  # fmt: skip

    def batch(self, shape: StepShape, micro_batch: int):
        return _episode(micro_batch, shape.support, shape.query, self.features, self.n_classes)

    def estimate(self, shape: StepShape, micro_batch: int, device: str = "cpu"):
        from tightfit.plan.estimate import estimate
        from tightfit.tabular.models.tiny import query_loss

        costed = dataclasses.replace(shape, rank=max(RANKS) if shape.rank else None)  # ranks share rank 8's figure
        key = (costed, micro_batch, device)
        if key in self.cache:
            return self.cache[key]
        batch, config = self.batch(costed, micro_batch), self.config(costed, micro_batch)
        self.cache[key] = estimate(self.model, batch, config, loss_fn=query_loss, device=device, process=False)
        return self.cache[key]

    @property
    def extra_label(self) -> str:
        return "CUDA's context and cuBLAS workspace" if self.device.startswith("cuda") else "the process"

    def extra(self, shape: StepShape) -> int:
        """What the budget pays besides the step's tensors: the CUDA context and cuBLAS workspace on a GPU; on
        the CPU the training process itself (measured once per LoRA on/off and precision, in a child)."""
        from tightfit.plan.estimate import CUBLAS_WORKSPACE_BYTES, CUDA_CONTEXT_BYTES, process_baseline
        from tightfit.tabular.models.tiny import query_loss

        if self.device.startswith("cuda"):
            return CUDA_CONTEXT_BYTES + CUBLAS_WORKSPACE_BYTES
        small = dataclasses.replace(shape, support=MIN_SUPPORT)  # calibrated on a small step: RSS minus its tensors
        return process_baseline(self.model, self.batch(small, 2), self.config(small, 2), query_loss)[0]

    def peak(self, shape: StepShape, micro_batch: int) -> int:
        """Tensor peak at ``micro_batch``, from the affine fit through micro-batches 1 and 2."""
        one = self.estimate(shape, 1).peak
        if micro_batch == 1:
            return one
        return one + (micro_batch - 1) * max(0, self.estimate(shape, 2).peak - one)


def _shapes(max_support: int, precisions: tuple[str, ...]):
    support = max_support
    while support >= MIN_SUPPORT:
        for strategy, rank in [("base-ft", None), *[("peft", r) for r in RANKS]]:
            for precision in precisions:
                for checkpointing in (False, True):
                    yield StepShape(support, strategy, rank, precision, checkpointing)
        support //= 2


def recipe(
    model_name: str,
    rows: int,
    features: int,
    memories: list[int],
    device: str = "cuda",
    n_classes: int = 10,
    max_support: int = 1024,
    episodes_per_step: int = 8,
    architecture: dict[str, Any] | None = None,
    measure: bool = False,
) -> Recipe:
    """The seed 003-style table for ``model_name`` on a ``rows`` x ``features`` table; see the module docstring.

    ``device`` is the device planned for (``"cuda"`` models a GPU even on a machine without one, and says so);
    ``architecture`` overrides the model's architecture arguments (a smaller TabICL in tests); ``measure`` runs
    each chosen step for real on this CPU, in a fresh child, and records its tensor peak beside the estimate.
    """
    at_least = {"rows": 2, "features": 1, "max_support": MIN_SUPPORT, "episodes_per_step": 1, "n_classes": 2}
    values = {"rows": rows, "features": features, "max_support": max_support, "episodes_per_step": episodes_per_step,
              "n_classes": n_classes}  # fmt: skip
    check("recipe", **{name: (values[name], Interval(int, low)) for name, low in at_least.items()})
    device = check_device(device, "recipe", allow_auto=False)
    if not memories or any(not isinstance(m, int) or m <= 0 for m in memories):
        raise ConfigError(f"recipe needs memory sizes in bytes, such as [2e9, 4e9]; got {memories!r}.")
    model = build_architecture(model_name, architecture)
    costs = _Costs(model, _inputs_read(model_name, features), n_classes, device)
    # an episode takes support + query rows from the table's training four fifths
    largest = min(max_support, _power_of_two_below(int(0.8 * rows * QUERY_SHARE / (QUERY_SHARE + 1))))
    precisions = ("fp32", "bf16")
    out = Recipe(model_name, rows, features, device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        out.note = ("predicted: the steps were modelled on this CPU with CUDA's context and cuBLAS workspace added; "
                    "a GPU run confirms them")  # fmt: skip
    for memory in sorted(memories):
        out.rows_by_memory.append(_fit_one(costs, memory, largest, precisions, episodes_per_step, device))
    if model_name == "TinyTFM":
        _add_prediction_plans(out, costs, rows)
    out.estimates = len(costs.cache)
    if measure:
        for row in out.rows_by_memory:
            if row.shape is not None:
                measure_row(row, model, costs.features, n_classes)
    return out


def _power_of_two_below(n: int) -> int:
    return 1 << max(0, n.bit_length() - 1)


def _fit_one(costs: _Costs, size: int, largest: int, precisions, episodes_per_step: int, device: str) -> RecipeRow:
    from tightfit.plan.search import SAFETY_MARGIN

    memory = int((1 - SAFETY_MARGIN) * size)  # the planner's margin: allocator fragmentation, estimate error
    weights = sum(p.numel() * p.element_size() for p in costs.model.parameters())
    floor = weights + costs.extra(StepShape(MIN_SUPPORT, "peft", min(RANKS), "bf16", True))
    if floor > memory:  # no step can fit: skip the estimates
        return RecipeRow(size, None, reason=f"the weights and {costs.extra_label} alone need {format_bytes(floor)}")
    micro_batches = [b for b in range(1, episodes_per_step + 1) if episodes_per_step % b == 0]  # whole accumulation
    return first_fit(costs, size, _shapes(largest, precisions), micro_batches, device)


def first_fit(costs: _Costs, size: int, shapes, micro_batches: list[int], device: str) -> RecipeRow:
    """The first of ``shapes`` whose step fits 90% of ``size`` with one of ``micro_batches`` (the largest that
    fits; the episodes per optimizer step are ``max(micro_batches)``), or a row saying what the smallest needs."""
    from tightfit.plan.search import SAFETY_MARGIN

    memory = int((1 - SAFETY_MARGIN) * size)  # the planner's margin: allocator fragmentation, estimate error
    per_step = max(micro_batches)
    smallest: tuple[int, StepShape] | None = None
    for shape in shapes:
        extra = costs.extra(shape)
        least = costs.peak(shape, min(micro_batches)) + extra
        if least > memory:
            if smallest is None or least < smallest[0]:
                smallest = (least, shape)
            continue
        micro = max(b for b in micro_batches if b == min(micro_batches) or costs.peak(shape, b) + extra <= memory)
        peak = costs.estimate(shape, micro, device=device).device_peak  # the tensor peak itself on the CPU
        if peak + extra > memory and micro > min(micro_batches):  # the affine fit was off: the smallest instead
            micro = min(micro_batches)
            peak = costs.estimate(shape, micro, device=device).device_peak
        if peak + extra > memory:
            continue
        return RecipeRow(size, shape, micro, per_step // micro, peak, peak + extra)
    need = "nothing estimated" if smallest is None else f"the smallest step needs {format_bytes(smallest[0])}"
    return RecipeRow(size, None, reason=need)


def measure_row(out_row: RecipeRow, model, features: int, n_classes: int) -> None:
    """On this CPU: run the row's step for real (two steps, a fresh child) and record its tracked tensor peak."""
    from tightfit.guard import run_limited

    costs = _Costs(model, features, n_classes, "cpu")
    shape, micro = out_row.shape, out_row.micro_batch
    out_row.measured_peak = run_limited(_measured_step, model, costs.batch(shape, micro), costs.config(shape, micro),
                                        time="30min")  # fmt: skip


def _measured_step(model, batch, config) -> int:
    from tightfit.plan.estimate import _measured_step as step
    from tightfit.tabular.models.tiny import query_loss

    return step(model, batch, config, query_loss)[0]


def _inputs_read(model_name: str, features: int) -> int:
    """The width the model reads: TinyTFM's members read at most ``max_features`` inputs of a wider table (made
    by its ``feature_reduction``; fine-tuning trains on them too), TabICL every column."""
    from tightfit.tabular.wide import MAX_FEATURES

    return min(features, MAX_FEATURES) if model_name == "TinyTFM" else features


def _add_prediction_plans(out: Recipe, costs: _Costs, rows: int) -> None:
    """TinyTFM: the prediction settings each memory size allows for this table (context up to 1,000 rows)."""
    from tightfit.tabular.footprint import PredictSettings, plan_prediction, tensor_limit

    wanted = PredictSettings(1000, 512, 4, True)
    held = costs.extra(StepShape(MIN_SUPPORT, "base-ft", None, "fp32", False))
    for row in out.rows_by_memory:
        limit = tensor_limit(row.memory, held, torch.device(costs.device).type)
        if limit <= 0:
            row.predict = {"label": f"none fits ({costs.extra_label} alone: {format_bytes(held)})",
                           "estimated_peak": None}  # fmt: skip
            continue
        plan = plan_prediction(costs.model, rows, costs.features, costs.n_classes, limit, wanted)
        label = "none fits" if plan.settings is None else plan.settings.label()
        row.predict = {"label": label, "estimated_peak": plan.peak, "steps": plan.steps}
