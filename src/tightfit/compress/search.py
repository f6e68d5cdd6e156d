"""`compress(model, example_inputs, ...)`: build every requested variant, measure each side by side, choose.

Each technique maps the model to a variant; a chain ``"prune+onnx_int8"`` applies a torch stage (``prune``,
``magnitude_prune``, ``distill``) and then a serving stage (``dynamic_int8``, ``onnx``, ``onnx_int8``,
``onnx_static_int8``, ``bf16``, ``fp16``). Every variant is measured the same way in this process: size, p50/p95
latency at each batch size (``measure.latency``), and quality through ``eval_fn``. ONNX variants are first
checked against PyTorch on the example inputs; a mismatch is a failed variant with the measured difference.

The variants are entries of the search core (:func:`tightfit.search.run_candidates`), run inline so that every
one is timed in this process beside the original: the budget's ``latency`` (p95 at the smallest batch size) and
``size`` are judged like every search's limits, a quality drop above ``max_quality_drop`` is ``over_limit`` on
``quality``, and a technique that cannot apply is ``failed`` with the reason. Among the rest the fastest by p50 at
the largest batch size is chosen; variants within 2% of each other's p50 count as tied and the smaller wins. The
original is a candidate too. An ONNX int8 variant that loses too much quality is followed by fallbacks that keep
the most error-prone MatMuls in float (measured).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tightfit.budget import Budget
from tightfit.compress.distill import LOSSES
from tightfit.compress.prune import check_sparsity
from tightfit.compress.variant import Variant
from tightfit.errors import ConfigError, TechniqueNotApplicable, bad_param, unknown_key
from tightfit.params import Interval, Options, check
from tightfit.registry import Registry
from tightfit.search import Entry, Leaderboard, Measured, Outcome, Verdict, fastest_within_tie, run_candidates

__all__ = ["SERVING_STAGES", "TECHNIQUES", "TORCH_STAGES", "CompressReport", "compress", "output_fidelity"]

log = logging.getLogger(__name__)

TECHNIQUES: Registry[str] = Registry("compress technique")  # id -> "torch" (a model transform) or "serving"
for _id, _kind, _relaxes, _rank, _summary in (
    ("dynamic_int8", "serving", ("latency", "size"), 10, "int8 weights of Linear layers, per channel (torch)"),
    ("onnx_int8", "serving", ("latency", "size"), 11, "ONNX Runtime, dynamic int8 per channel"),
    ("onnx_static_int8", "serving", ("latency", "size"), 12, "ONNX Runtime, static int8 calibrated on the inputs"),
    ("onnx", "serving", ("latency",), 13, "ONNX Runtime, fp32"),
    ("prune", "torch", ("latency", "size"), 14, "structured pruning (torch-pruning): neurons, heads, channels go"),
    ("distill", "torch", ("latency", "size"), 15, "distillation into a smaller student"),
    ("magnitude_prune", "torch", ("size",), 16, "zero the smallest weights (smaller when compressed)"),
    ("bf16", "serving", ("latency", "size"), 17, "bf16 weights (CPUs with avx512_bf16/amx)"),
    ("fp16", "serving", ("latency", "size"), 18, "fp16 weights (CUDA)"),
):
    TECHNIQUES.register(_id, _kind, relaxes=_relaxes, rank=_rank, summary=_summary)
TORCH_STAGES = tuple(t for t in TECHNIQUES if TECHNIQUES[t] == "torch")
SERVING_STAGES = tuple(t for t in TECHNIQUES if TECHNIQUES[t] == "serving")
DEFAULT_TECHNIQUES = ("dynamic_int8", "onnx", "onnx_int8", "onnx_static_int8", "prune")
PARITY_COSINE = 0.999  # an exported graph must reproduce PyTorch's outputs this closely (row cosine)


def _as_numpy(output: Any) -> np.ndarray:
    if isinstance(output, (tuple, list)):
        output = output[0]
    if torch.is_tensor(output):
        return output.detach().float().cpu().numpy()
    return np.asarray(output, dtype=np.float32)


def _row_cosine(a: Any, b: Any) -> np.ndarray:
    x, y = _as_numpy(a), _as_numpy(b)
    x, y = x.reshape(len(x), -1).astype(np.float64), y.reshape(len(y), -1).astype(np.float64)
    return (x * y).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1) + 1e-12)


def output_fidelity(model: Callable, inputs: Sequence[torch.Tensor]) -> Callable[[Callable], float]:
    """The default ``eval_fn``: mean cosine similarity of a variant's outputs to ``model``'s on ``inputs``."""
    with torch.inference_mode():
        reference = model(*inputs)
    return lambda variant: float(_row_cosine(variant(*inputs), reference).mean())


def _rows(inputs: Sequence[torch.Tensor], n: int) -> tuple[torch.Tensor, ...]:
    """The first ``n`` rows of every input, cycling when the examples have fewer."""
    have = len(inputs[0])
    index = torch.arange(n) % have
    return tuple(x[index] for x in inputs)


@dataclasses.dataclass
class CompressReport:
    """Every variant with its measured figures; ``best`` is the chosen one (None when nothing qualified)."""

    original: Variant
    variants: list[Variant]
    best: Variant | None
    batch_sizes: tuple[int, ...]
    max_quality_drop: float
    leaderboard: Leaderboard

    @property
    def budget(self) -> Budget:
        return self.leaderboard.budget

    @property
    def table(self):
        """One row per variant: size, p50/p95 per batch size, quality, deltas vs the original, verdict."""
        import pandas as pd

        rows = []
        base = self.original
        for v in [base, *self.variants]:
            row = {
                "variant": v.name,
                "size_mb": v.size_bytes / 1e6,
                "size_ratio": base.size_bytes / v.size_bytes if v.size_bytes else None,
            }
            for b in self.batch_sizes:
                lat = v.latency.get(b, {})
                row[f"p50_ms@{b}"] = lat["p50_s"] * 1e3 if lat else None
                row[f"p95_ms@{b}"] = lat["p95_s"] * 1e3 if lat else None
            big = self.batch_sizes[-1]
            row["speedup"] = base.p50(big) / v.p50(big) if v.p50(big) else None
            row["quality"] = v.quality
            row["quality_drop"] = None if v.quality is None else base.quality - v.quality
            row["verdict"] = v.verdict
            row["reason"] = v.reason
            rows.append(row)
        return pd.DataFrame(rows)

    def plot(self, path: str | Path) -> Path:
        """Size (x) against p50 latency at the largest batch (y): the trade-off each variant makes."""
        from tightfit.viz import plot_size_latency

        measured = [v for v in [self.original, *self.variants] if v.p50(self.batch_sizes[-1])]
        return plot_size_latency(
            [v.name for v in measured],
            [v.size_bytes for v in measured],
            [v.p50(self.batch_sizes[-1]) for v in measured],
            [v.verdict for v in measured],
            path,
            self.batch_sizes[-1],
        )

    def to_dict(self) -> dict[str, Any]:
        from tightfit.hardware import Hardware

        return {
            "best": None if self.best is None else self.best.name,
            "batch_sizes": list(self.batch_sizes),
            "max_quality_drop": self.max_quality_drop,
            "budget": self.budget.to_dict(),
            "machine": Hardware.probe().summary(),
            "variants": [v.to_dict() for v in [self.original, *self.variants]],
            "leaderboard": self.leaderboard.to_dict(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)


def _check_techniques(techniques: Sequence[str]) -> list[list[str]]:
    if isinstance(techniques, str) or not isinstance(techniques, (tuple, list)) or not techniques:
        raise bad_param("techniques", "compress", f"a non-empty tuple of {tuple(TECHNIQUES)} (chains with '+')",
                        techniques)  # fmt: skip
    chains = []
    for technique in techniques:
        stages = str(technique).split("+")
        for i, stage in enumerate(stages):
            if stage not in TECHNIQUES:
                raise unknown_key(stage, f"the 'techniques' parameter of compress ({technique!r})", TECHNIQUES)
            if i < len(stages) - 1 and stage not in TORCH_STAGES:
                raise bad_param("techniques", "compress", f"stages from {tuple(TECHNIQUES)}; only the last may be "
                                f"one of {SERVING_STAGES}", technique)  # fmt: skip
        chains.append(stages)
    return chains


@dataclasses.dataclass
class _Context:
    model: nn.Module
    inputs: tuple[torch.Tensor, ...]
    sparsity: float
    student: nn.Module | None
    train_data: tuple[torch.Tensor, ...] | None
    train_config: Any
    distill_loss: str
    calibration: list[tuple[torch.Tensor, ...]]
    # module id -> (module, graph, exporter, parity): the fp32 export every ONNX variant of one module starts from,
    # made once (an export of a 22M-parameter model takes ~14 s on 2 cores); the module is held so its id stays its
    exports: dict[int, tuple[nn.Module, bytes, str, float]] = dataclasses.field(default_factory=dict)


def _torch_stage(stage: str, module: nn.Module, ctx: _Context) -> tuple[nn.Module, dict[str, Any]]:
    from tightfit.compress.distill import distill
    from tightfit.compress.prune import magnitude_prune, structured_prune

    if stage == "prune":
        pruned, info = structured_prune(module, ctx.inputs, ctx.sparsity)
        if not info["shrunk"]:
            tried = info["skipped"]
            raise TechniqueNotApplicable(f"no channel group could be shrunk ({len(tried)} tried: {tried})")
        if ctx.train_data is not None:  # recover what pruning lost by distilling from the original
            result = distill(ctx.model, pruned, ctx.train_data, loss=ctx.distill_loss, config=ctx.train_config)
            info["recovery"] = {"steps": result.steps, "stopped_by": result.stopped_by, "seconds": result.wall_time_s}
        return pruned.eval(), info
    if stage == "magnitude_prune":
        return magnitude_prune(module, ctx.sparsity)
    import copy

    student = copy.deepcopy(ctx.student)  # compress() checked that student and train_data were given
    result = distill(ctx.model, student, ctx.train_data, loss=ctx.distill_loss, config=ctx.train_config)
    return student.eval(), {"steps": result.steps, "stopped_by": result.stopped_by, "seconds": result.wall_time_s}


def _serving_stage(stage: str, name: str, module: nn.Module, ctx: _Context, keep_float: int = 0) -> Variant:
    from tightfit.measure import size_of

    if stage in ("dynamic_int8", "bf16", "fp16", "none"):
        details: dict[str, Any] = {}
        if stage == "dynamic_int8":
            from tightfit.compress.quantize import dynamic_int8

            module, details = dynamic_int8(module)
        elif stage in ("bf16", "fp16"):
            from tightfit.compress.quantize import cast
            from tightfit.hardware import Hardware

            if stage == "fp16":
                if not torch.cuda.is_available():
                    raise TechniqueNotApplicable("fp16 kernels need a CUDA device, and torch sees none; use bf16")
                module = cast(module, torch.float16, device="cuda")  # served on the GPU, timed CUDA-synchronised
                details = {"device": "cuda"}
            elif not Hardware.probe().cpu_bf16:
                raise TechniqueNotApplicable(
                    "this CPU has no bf16 instructions (avx512_bf16/amx): bf16 would be emulated, slower"
                )
            else:
                module = cast(module, torch.bfloat16)
        module = module.eval()
        return Variant(name, stage, module, module=module, details=details, size_bytes=size_of(module))
    from tightfit.compress.onnx import (
        OnnxRunner,
        export_onnx,
        quantize_onnx_dynamic,
        quantize_onnx_static,
        weight_sensitivity,
    )

    if id(module) not in ctx.exports:
        graph, exporter = export_onnx(module, ctx.inputs)
        with torch.inference_mode():
            cosine = float(_row_cosine(OnnxRunner(graph)(*ctx.inputs), module(*ctx.inputs)).min())
        ctx.exports[id(module)] = (module, graph, exporter, cosine)
    _, graph, exporter, cosine = ctx.exports[id(module)]
    fp32 = OnnxRunner(graph)
    if cosine < PARITY_COSINE:
        raise TechniqueNotApplicable(
            f"exported graph disagrees with PyTorch: min row cosine {cosine:.5f} < {PARITY_COSINE}"
        )
    details = {"exporter": exporter, "parity_min_cosine": cosine}
    if stage == "onnx":
        return Variant(name, stage, fp32, onnx_bytes=graph, details=details, size_bytes=len(graph))
    if stage == "onnx_static_int8":
        q = quantize_onnx_static(graph, ctx.calibration)
        return Variant(name, stage, OnnxRunner(q), onnx_bytes=q,
                       details=details | {"calibration_batches": len(ctx.calibration)}, size_bytes=len(q))  # fmt: skip
    # dynamic int8, per channel; a fallback spec keeps the most error-prone MatMuls in float
    ranked = [node for node, _ in weight_sensitivity(graph)]
    keep = ranked[:keep_float]
    q = quantize_onnx_dynamic(graph, per_channel=True, exclude=keep)
    if keep:
        name, details = f"{name} ({len(keep)} of {len(ranked)} MatMuls float)", details | {"float_nodes": keep}
    return Variant(name, stage, OnnxRunner(q), onnx_bytes=q, size_bytes=len(q),
                   details=details | {"per_channel": True, "matmuls": len(ranked)})  # fmt: skip


@dataclasses.dataclass(frozen=True)
class _Spec:
    """One entry: the chain of stages (empty: the original), and for ONNX int8 how many MatMuls stay float."""

    chain: tuple[str, ...]
    keep_float: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"chain": list(self.chain), "keep_float": self.keep_float}


ORIGINAL = "original (fp32 PyTorch)"


def compress(
    model: nn.Module,
    example_inputs: torch.Tensor | Sequence[torch.Tensor],
    eval_fn: Callable[[Callable], float] | None = None,
    budget: Budget | None = None,
    max_quality_drop: float = 0.01,
    techniques: Sequence[str] = DEFAULT_TECHNIQUES,
    batch_sizes: Sequence[int] = (1, 32),
    sparsity: float = 0.3,
    student: nn.Module | None = None,
    train_data: torch.Tensor | Sequence[torch.Tensor] | None = None,
    train_config: Any = None,
    distill_loss: str = "mse",
    calibration_rows: int = 64,
    verbose: bool = True,
    deadline: Any = None,
) -> CompressReport:
    """Try ``techniques`` on ``model``, measure every variant against the original, and choose.

    Parameters
    ----------
    example_inputs : tensor or tuple of tensors
        The model's positional inputs, rows first. Latency is timed on their first ``b`` rows (cycled when
        fewer) for each ``b`` in ``batch_sizes``; ONNX export, pruning's dependency trace and static calibration
        use them too.
    eval_fn : callable, default=None
        ``eval_fn(variant) -> float``, higher is better, on held-out data. ``None``: output fidelity, the mean
        cosine similarity of the variant's outputs to the original's on ``example_inputs``.
    budget : Budget, default=None
        ``latency`` (p95 at the smallest batch size) and ``size`` are the limits a variant must meet; ``time``
        bounds the search: a variant is not started once it has passed (one already running finishes: the
        variants run in this process, to be timed beside the original).
    max_quality_drop : float, default=0.01
        Largest accepted ``eval_fn(original) - eval_fn(variant)``.
    techniques : tuple of str
        From ``TECHNIQUES``; ``"prune+onnx_int8"`` chains a torch stage into a serving stage.
    sparsity : float, default=0.3
        Fraction of neurons (``prune``) or weights (``magnitude_prune``) removed.
    student, train_data, train_config, distill_loss
        ``distill`` trains ``student`` on ``train_data`` (input tensors) to match the original
        (``distill_loss`` "mse"/"cosine"/"kl"); with ``train_data``, ``prune`` also recovers by distillation.
    deadline : measure.Deadline, default=None
        A deadline already running (the CLI's, counted from the command's start); default: ``budget.time``
        from now.
    """
    if not isinstance(model, nn.Module):
        raise bad_param("model", "compress", "a torch.nn.Module", type(model).__name__)
    inputs = (example_inputs,) if torch.is_tensor(example_inputs) else tuple(example_inputs)
    if not inputs or not all(torch.is_tensor(x) and x.ndim >= 1 for x in inputs):
        raise bad_param(
            "example_inputs", "compress", "a tensor or a tuple of tensors, rows first", type(example_inputs).__name__
        )
    if len({len(x) for x in inputs}) != 1:
        raise bad_param("example_inputs", "compress", "tensors with the same number of rows", [len(x) for x in inputs])
    chains = _check_techniques(techniques)
    sizes = tuple(sorted(set(batch_sizes))) if isinstance(batch_sizes, (tuple, list)) else ()
    if not sizes or not all(Interval(int, 1).accepts(b) for b in sizes):
        raise bad_param("batch_sizes", "compress", "a non-empty tuple of ints >= 1", batch_sizes)
    check(
        "compress",
        max_quality_drop=(max_quality_drop, Interval(float, 0)),
        budget=(budget, None, Budget),
        student=(student, None, nn.Module),
        distill_loss=(distill_loss, Options(*LOSSES)),
        calibration_rows=(calibration_rows, Interval(int, 1)),
        verbose=(verbose, bool),
    )
    if eval_fn is not None and not callable(eval_fn):
        raise bad_param("eval_fn", "compress", "None or a callable variant -> float", type(eval_fn).__name__)
    check_sparsity(sparsity, "compress")
    budget = budget or Budget()
    if train_data is not None:
        train_data = (train_data,) if torch.is_tensor(train_data) else tuple(train_data)
    if any("distill" in chain for chain in chains) and (student is None or train_data is None):
        raise ConfigError("technique 'distill' needs student= (the smaller nn.Module) and train_data= (input tensors).")

    model = model.cpu().eval()
    eval_fn = eval_fn or output_fidelity(model, inputs)
    calibration = [tuple(x[i : i + 8] for x in inputs) for i in range(0, min(calibration_rows, len(inputs[0])), 8)]
    ctx = _Context(model, inputs, sparsity, student, train_data, train_config, distill_loss, calibration)

    evaluator = _Evaluator(ctx, sizes, eval_fn, float(max_quality_drop))
    entries = [Entry(ORIGINAL, _Spec(()))] + [Entry("+".join(chain), _Spec(tuple(chain))) for chain in chains]
    from tightfit.measure import Deadline

    board = run_candidates(
        entries, budget, evaluator, executor="inline", applies=("latency", "size"),
        deadline=deadline or Deadline(budget.time),
        check_entry=evaluator.quality_kept, choose=functools.partial(_choose, big=sizes[-1]), techniques=TECHNIQUES,
        entity="variant", verbose=verbose,
    )  # fmt: skip
    variants = []
    for entry in board.entries:
        variant = entry.artefact or Variant(entry.name, entry.spec.chain[-1], None)
        variant.verdict, variant.reason = entry.status, entry.reason
        variants.append(variant)
    chosen = board.chosen
    best = None if chosen is None else chosen.artefact
    return CompressReport(variants[0], variants[1:], best, sizes, float(max_quality_drop), board)


class _Evaluator:
    """Builds and measures one variant per entry, in this process (shared torch prefixes are built once)."""

    def __init__(self, ctx: _Context, sizes: tuple[int, ...], eval_fn: Callable, max_drop: float) -> None:
        self.ctx, self.sizes, self.eval_fn, self.max_drop = ctx, sizes, eval_fn, max_drop
        self.base_quality: float | None = None
        self.torch_cache: dict[str, tuple[nn.Module, dict[str, Any]]] = {}

    def __call__(self, spec: _Spec, time_left: float | None) -> Outcome:
        from tightfit.measure import size_of

        chain, name = spec.chain, "+".join(spec.chain) or ORIGINAL
        if not chain:
            model = self.ctx.model
            variant = Variant(name, "none", model, module=model, size_bytes=size_of(model))
        else:
            torch_stages = chain if chain[-1] in TORCH_STAGES else chain[:-1]
            module, info = self.ctx.model, {}
            for i, stage in enumerate(torch_stages):  # shared prefixes (prune, prune+int8) run once
                key = "+".join(torch_stages[: i + 1])
                if key not in self.torch_cache:
                    self.torch_cache[key] = _torch_stage(stage, module, self.ctx)
                module, info = self.torch_cache[key][0], info | {stage: self.torch_cache[key][1]}
            last = chain[-1] if chain[-1] in SERVING_STAGES else "none"
            variant = _serving_stage(last, name, module, self.ctx, spec.keep_float)
            variant.details = info | variant.details
        _measure(variant, self.ctx.inputs, self.sizes, self.eval_fn)
        if self.base_quality is None:
            self.base_quality = variant.quality
        small = self.sizes[0]
        extra = {f"p50_at_{b}_s": variant.latency[b]["p50_s"] for b in self.sizes}
        extra["quality_drop"] = self.base_quality - variant.quality
        measured = Measured(
            quality=variant.quality, metric="quality", size_bytes=variant.size_bytes, latency_batch=small,
            latency_p50_s=variant.latency[small]["p50_s"], latency_p95_s=variant.latency[small]["p95_s"], extra=extra,
        )  # fmt: skip
        return Outcome(measured, artefact=variant, details=variant.details, follow_ups=self._fallbacks(spec, variant))

    def _fallbacks(self, spec: _Spec, variant: Variant) -> list[Entry]:
        """ONNX int8 that lost too much: the same with 10% and 25% of the MatMuls (most sensitive first) float."""
        if spec.keep_float or not spec.chain or spec.chain[-1] != "onnx_int8":
            return []
        if not self._too_lossy(self.base_quality - variant.quality):
            return []
        n = variant.details["matmuls"]
        counts = sorted({max(1, round(fraction * n)) for fraction in (0.1, 0.25)})
        return [Entry(f"{'+'.join(spec.chain)} ({k} of {n} MatMuls float)", _Spec(spec.chain, k)) for k in counts]

    def _too_lossy(self, drop: float) -> bool:
        return drop > self.max_drop + 1e-12  # float noise in an equal score is no drop

    def quality_kept(self, entry: Entry) -> Verdict | None:
        drop = entry.measured.extra["quality_drop"]
        if self._too_lossy(drop):
            return Verdict.over_limit("quality", drop, self.max_drop, f"quality drop {drop:.4f} > {self.max_drop}")
        return None


def _measure(variant: Variant, inputs: tuple, sizes: tuple[int, ...], eval_fn: Callable) -> None:
    """Quality through ``eval_fn`` and p50/p95 latency at each batch size, filled into ``variant``."""
    from tightfit.measure import latency as time_it

    variant.example_inputs = _rows(inputs, 2)
    variant.quality = float(eval_fn(variant))
    for b in sizes:
        variant.latency[b] = time_it(variant, *_rows(inputs, b), warmup=2, min_repeats=5, min_time_s=1.0).to_dict()


def _choose(fits: list[Entry], big: int) -> tuple[Entry, str]:
    """The fastest at the largest batch size (:func:`tightfit.search.fastest_within_tie`)."""
    best = fastest_within_tie(fits, lambda e: e.measured.extra[f"p50_at_{big}_s"])
    return best, f"fastest at batch {big} among {len(fits)} that keep quality and fit the limits"
