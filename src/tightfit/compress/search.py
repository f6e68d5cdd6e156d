"""`compress(model, example_inputs, ...)`: build every requested variant, measure each side by side, choose.

Each technique maps the model to a variant; a chain ``"prune+onnx_int8"`` applies a torch stage (``prune``,
``magnitude_prune``, ``distill``) and then a serving stage (``dynamic_int8``, ``onnx``, ``onnx_int8``,
``onnx_static_int8``, ``bf16``, ``fp16``). Every variant is measured the same way in this process: size, p50/p95
latency at each batch size (``measure.latency``), and quality through ``eval_fn``. ONNX variants are first
checked against PyTorch on the example inputs; a mismatch is a failed variant with the measured difference.

The choice: among variants whose quality drop is at most ``max_quality_drop`` and that meet the budget's
``latency`` (p95 at the smallest batch size) and ``size`` limits, the fastest by p50 at the largest batch size;
variants within 2% of each other's p50 count as tied and the smaller wins. The original is a candidate too.
"""

from __future__ import annotations

import dataclasses
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
from tightfit.errors import ConfigError, bad_param

__all__ = ["SERVING_STAGES", "TECHNIQUES", "TORCH_STAGES", "CompressReport", "compress", "output_fidelity"]

log = logging.getLogger(__name__)

TORCH_STAGES = ("prune", "magnitude_prune", "distill")
SERVING_STAGES = ("dynamic_int8", "onnx", "onnx_int8", "onnx_static_int8", "bf16", "fp16")
TECHNIQUES = TORCH_STAGES + SERVING_STAGES
DEFAULT_TECHNIQUES = ("dynamic_int8", "onnx", "onnx_int8", "onnx_static_int8", "prune")
TIE_BAND = 0.02  # p50s within 2% are a tie: timing noise on a shared CPU is larger than that
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
    budget: Budget

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
                row[f"p50_ms@{b}"] = lat["p50"] * 1e3 if lat else None
                row[f"p95_ms@{b}"] = lat["p95"] * 1e3 if lat else None
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
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)


def _check_techniques(techniques: Sequence[str]) -> list[list[str]]:
    if isinstance(techniques, str) or not isinstance(techniques, (tuple, list)) or not techniques:
        raise bad_param("techniques", "compress", f"a non-empty tuple of {TECHNIQUES} (chains with '+')", techniques)
    chains = []
    for technique in techniques:
        stages = str(technique).split("+")
        for i, stage in enumerate(stages):
            allowed = TORCH_STAGES if i < len(stages) - 1 else TECHNIQUES
            if stage not in allowed:
                raise bad_param("techniques", "compress", f"stages from {TECHNIQUES}; only the last may be "
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


def _torch_stage(stage: str, module: nn.Module, ctx: _Context) -> tuple[nn.Module, dict[str, Any]]:
    from tightfit.compress.distill import distill
    from tightfit.compress.prune import magnitude_prune, structured_prune

    if stage == "prune":
        pruned, info = structured_prune(module, ctx.inputs, ctx.sparsity)
        if not info["shrunk"]:
            raise ValueError(f"no Linear pair could be shrunk ({len(info['skipped'])} tried: {info['skipped']})")
        if ctx.train_data is not None:  # recover what pruning lost by distilling from the original
            result = distill(ctx.model, pruned, ctx.train_data, loss=ctx.distill_loss, config=ctx.train_config)
            info["recovery"] = {"steps": result.steps, "stopped_by": result.stopped_by}
        return pruned.eval(), info
    if stage == "magnitude_prune":
        return magnitude_prune(module, ctx.sparsity)
    import copy

    student = copy.deepcopy(ctx.student)  # compress() checked that student and train_data were given
    result = distill(ctx.model, student, ctx.train_data, loss=ctx.distill_loss, config=ctx.train_config)
    return student.eval(), {"steps": result.steps, "stopped_by": result.stopped_by}


def _serving_stage(
    stage: str, name: str, module: nn.Module, ctx: _Context, max_drop: float, quality_drop: Callable
) -> list[Variant]:
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
                raise ValueError("fp16 kernels need a CUDA device; on the CPU use bf16")
            if not Hardware.probe().cpu_bf16:
                raise ValueError("this CPU has no bf16 instructions (avx512_bf16/amx): bf16 would be emulated, slower")
            module = cast(module, torch.bfloat16)
        module = module.eval()
        return [Variant(name, stage, module, module=module, details=details, size_bytes=size_of(module))]
    from tightfit.compress.onnx import (
        OnnxRunner,
        export_onnx,
        quantize_onnx_dynamic,
        quantize_onnx_static,
        weight_sensitivity,
    )

    graph, exporter = export_onnx(module, ctx.inputs)
    fp32 = OnnxRunner(graph)
    with torch.inference_mode():
        cosine = float(_row_cosine(fp32(*ctx.inputs), module(*ctx.inputs)).min())
    if cosine < PARITY_COSINE:
        raise ValueError(f"exported graph disagrees with PyTorch: min row cosine {cosine:.5f} < {PARITY_COSINE}")
    details = {"exporter": exporter, "parity_min_cosine": cosine}
    if stage == "onnx":
        return [Variant(name, stage, fp32, onnx_bytes=graph, details=details, size_bytes=len(graph))]
    if stage == "onnx_static_int8":
        q = quantize_onnx_static(graph, ctx.calibration)
        return [
            Variant(
                name,
                stage,
                OnnxRunner(q),
                onnx_bytes=q,
                details=details | {"calibration_batches": len(ctx.calibration)},
                size_bytes=len(q),
            )
        ]
    # dynamic int8: per-channel; if that loses too much, keep the most error-prone weights in float (measured)
    q = quantize_onnx_dynamic(graph, per_channel=True)
    variants = [
        Variant(name, stage, OnnxRunner(q), onnx_bytes=q, details=details | {"per_channel": True}, size_bytes=len(q))
    ]
    if quality_drop(variants[0]) > max_drop:
        ranked = [node for node, _ in weight_sensitivity(graph)]
        for count in sorted({max(1, round(fraction * len(ranked))) for fraction in (0.1, 0.25)}):
            keep = ranked[:count]
            q = quantize_onnx_dynamic(graph, per_channel=True, exclude=keep)
            variants.append(Variant(
                f"{name} ({len(keep)} of {len(ranked)} MatMuls float)", stage, OnnxRunner(q), onnx_bytes=q,
                details=details | {"per_channel": True, "float_nodes": keep}, size_bytes=len(q),
            ))  # fmt: skip
    return variants


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
) -> CompressReport:
    """Try ``techniques`` on ``model``, measure every variant against the original, and choose.

    Parameters
    ----------
    example_inputs : tensor or tuple of tensors
        The model's positional inputs, rows first. Latency is timed on their first ``b`` rows (cycled when
        fewer) for each ``b`` in ``batch_sizes``; ONNX export, pruning's pair search and static calibration
        use them too.
    eval_fn : callable, default=None
        ``eval_fn(variant) -> float``, higher is better, on held-out data. ``None``: output fidelity, the mean
        cosine similarity of the variant's outputs to the original's on ``example_inputs``.
    budget : Budget, default=None
        ``latency`` (p95 at the smallest batch size) and ``size`` are the limits a variant must meet.
    max_quality_drop : float, default=0.01
        Largest accepted ``eval_fn(original) - eval_fn(variant)``.
    techniques : tuple of str
        From ``TECHNIQUES``; ``"prune+onnx_int8"`` chains a torch stage into a serving stage.
    sparsity : float, default=0.3
        Fraction of neurons (``prune``) or weights (``magnitude_prune``) removed.
    student, train_data, train_config, distill_loss
        ``distill`` trains ``student`` on ``train_data`` (input tensors) to match the original
        (``distill_loss`` "mse"/"cosine"/"kl"); with ``train_data``, ``prune`` also recovers by distillation.
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
    if isinstance(max_quality_drop, bool) or not isinstance(max_quality_drop, (int, float)) or max_quality_drop < 0:
        raise bad_param("max_quality_drop", "compress", "a number >= 0", max_quality_drop)
    sizes = tuple(sorted(set(batch_sizes))) if isinstance(batch_sizes, (tuple, list)) else ()
    if not sizes or not all(isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in sizes):
        raise bad_param("batch_sizes", "compress", "a non-empty tuple of ints >= 1", batch_sizes)
    budget = budget or Budget()
    if not isinstance(budget, Budget):
        raise bad_param("budget", "compress", "None or a Budget", type(budget).__name__)
    if eval_fn is not None and not callable(eval_fn):
        raise bad_param("eval_fn", "compress", "None or a callable variant -> float", type(eval_fn).__name__)
    check_sparsity(sparsity, "compress")
    if student is not None and not isinstance(student, nn.Module):
        raise bad_param("student", "compress", "None or a torch.nn.Module", type(student).__name__)
    if distill_loss not in LOSSES:
        raise bad_param("distill_loss", "compress", LOSSES, distill_loss)
    if isinstance(calibration_rows, bool) or not isinstance(calibration_rows, int) or calibration_rows < 1:
        raise bad_param("calibration_rows", "compress", "an int >= 1", calibration_rows)
    if not isinstance(verbose, bool):
        raise bad_param("verbose", "compress", "True or False", verbose)
    if train_data is not None:
        train_data = (train_data,) if torch.is_tensor(train_data) else tuple(train_data)
    if any("distill" in chain for chain in chains) and (student is None or train_data is None):
        raise ConfigError("technique 'distill' needs student= (the smaller nn.Module) and train_data= (input tensors).")

    model = model.cpu().eval()
    eval_fn = eval_fn or output_fidelity(model, inputs)
    calibration = [tuple(x[i : i + 8] for x in inputs) for i in range(0, min(calibration_rows, len(inputs[0])), 8)]
    ctx = _Context(model, inputs, sparsity, student, train_data, train_config, distill_loss, calibration)

    from tightfit.measure import size_of
    from tightfit.progress import StepProgress

    original = Variant("original (fp32 PyTorch)", "none", model, module=model, size_bytes=size_of(model))
    _measure(original, inputs, sizes, eval_fn)
    base_quality = original.quality
    original.verdict = "baseline"

    def drop(variant: Variant) -> float:
        if variant.quality is None:
            _measure(variant, inputs, sizes, eval_fn, latency=False)
        return base_quality - variant.quality

    variants: list[Variant] = []
    torch_cache: dict[str, tuple[nn.Module, dict[str, Any]]] = {}
    with StepProgress(len(chains), verbose, description="variants") as progress:
        for chain in chains:
            name = "+".join(chain)
            try:
                torch_stages = chain if chain[-1] in TORCH_STAGES else chain[:-1]
                module, info = model, {}
                for i, stage in enumerate(torch_stages):  # shared prefixes (prune, prune+int8) run once
                    key = "+".join(torch_stages[: i + 1])
                    if key not in torch_cache:
                        torch_cache[key] = _torch_stage(stage, module, ctx)
                    module, info = torch_cache[key][0], info | {stage: torch_cache[key][1]}
                last = chain[-1] if chain[-1] in SERVING_STAGES else "none"
                built = _serving_stage(last, name, module, ctx, max_quality_drop, drop)
                for variant in built:
                    variant.details = info | variant.details
                    _measure(variant, inputs, sizes, eval_fn)
                variants.extend(built)
            except Exception as exc:  # a technique that cannot apply is a failed row with the reason
                log.info("compress: %s failed: %s", name, exc)
                variants.append(
                    Variant(name, chain[-1], None, verdict="failed", reason=f"{type(exc).__name__}: {exc}"[:400])
                )
            progress.advance(variant=name)

    best = _choose(original, variants, sizes, budget, max_quality_drop)
    return CompressReport(original, variants, best, sizes, float(max_quality_drop), budget)


def _measure(variant: Variant, inputs: tuple, sizes: tuple[int, ...], eval_fn: Callable, latency: bool = True) -> None:
    from tightfit.measure import latency as time_it

    variant.example_inputs = _rows(inputs, 2)
    if variant.quality is None:
        variant.quality = float(eval_fn(variant))
    if latency:
        for b in sizes:
            batch = _rows(inputs, b)
            variant.latency[b] = time_it(variant, *batch, warmup=2, min_repeats=5, min_time_s=1.0).to_dict()


def _choose(
    original: Variant, variants: list[Variant], sizes: tuple[int, ...], budget: Budget, max_drop: float
) -> Variant | None:
    small, big = sizes[0], sizes[-1]
    accepted = []
    for v in [original, *variants]:
        if v.verdict == "failed":
            continue
        drop = original.quality - v.quality
        problems = []
        if drop > max_drop + 1e-12:
            problems.append(f"quality drop {drop:.4f} > {max_drop}")
        if budget.latency is not None and v.latency[small]["p95"] > budget.latency:
            problems.append(
                f"p95 {v.latency[small]['p95'] * 1e3:.1f} ms at batch {small} > {budget.latency * 1e3:.1f} ms"
            )
        if budget.size is not None and v.size_bytes > budget.size:
            problems.append(f"size {v.size_bytes / 1e6:.1f} MB > {budget.size / 1e6:.1f} MB")
        if problems:
            v.verdict, v.reason = "rejected", "; ".join(problems)
        else:
            if v is not original:
                v.verdict = "accepted"
            accepted.append(v)
    if not accepted:
        return None
    fastest = min(v.p50(big) for v in accepted)
    tied = [v for v in accepted if v.p50(big) <= fastest * (1 + TIE_BAND)]
    best = min(tied, key=lambda v: (v.size_bytes, v.p50(big)))
    best.verdict = "chosen"
    if best.reason == "":
        best.reason = f"fastest at batch {big} among {len(accepted)} that keep quality and fit the limits"
    return best
