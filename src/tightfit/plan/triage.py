"""`triage(budget, facts)`: which limit binds, the evidence, and the techniques that relax it, in order.

The binding constraint is the stated limit with the largest overshoot (predicted or measured value over
the limit). When nothing overshoots, it is ``"none"`` and the evidence names the tightest limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tightfit.budget import Budget
from tightfit.errors import bad_param
from tightfit.measure._units import format_bytes, format_seconds

__all__ = ["MIN_ROWS_FOR_TRAINING", "TECHNIQUES", "Triage", "WorkloadFacts", "triage"]

MIN_ROWS_FOR_TRAINING = 1000  # below this many labelled rows, training from scratch is data-bound

TECHNIQUES = {
    "memory": [
        "precision='bf16' (or 'fp16' on CUDA)",
        "smaller micro_batch with gradient accumulation",
        "activation checkpointing",
        "LoRA (train adapters, freeze the base)",
        "low-memory optimizer ('adafactor', or 'adamw8bit' with bitsandbytes)",
    ],
    "time": [
        "larger micro_batch (fewer, fuller steps)",
        "precision='bf16'",
        "fewer epochs with early stopping",
        "a smaller model",
    ],
    "latency": [
        "dynamic int8 quantization",
        "pruning (structured, so layers shrink)",
        "distillation into a smaller student",
        "ONNX Runtime export",
    ],
    "size": ["int8 quantization", "pruning", "distillation into a smaller student"],
    "data": ["a tabular foundation model in context (no training)", "LoRA on a pretrained model", "augmentation"],
    "none": [],
}


@dataclass(frozen=True)
class WorkloadFacts:
    """What is known (measured or predicted) about a workload; every field optional. Bytes and seconds.

    ``memory_bytes``: predicted or measured peak against ``Budget.memory``; ``ram_bytes`` against
    ``Budget.ram``; ``fit_seconds`` against ``time``; ``latency_s`` (p95 of one batch) against
    ``latency``; ``size_bytes`` against ``size``; ``n_labelled_rows`` for the data check; ``context``
    says under which settings (``"micro_batch 32, fp32"``), for the evidence.
    """

    memory_bytes: int | None = None
    ram_bytes: int | None = None
    fit_seconds: float | None = None
    latency_s: float | None = None
    size_bytes: int | None = None
    n_labelled_rows: int | None = None
    context: str = ""


@dataclass(frozen=True)
class Triage:
    """The binding constraint, why, and the techniques to try in order."""

    binding: str
    evidence: str
    techniques: list[str] = field(default_factory=list)
    ratios: dict[str, float] = field(default_factory=dict)  # value / limit, per stated limit

    def to_dict(self) -> dict[str, Any]:
        return {
            "binding": self.binding,
            "evidence": self.evidence,
            "techniques": self.techniques,
            "ratios": self.ratios,
        }


_CHECKS = (  # (constraint, facts field, budget field, formatter, words)
    ("memory", "memory_bytes", "memory", format_bytes, "peak memory"),
    ("memory", "ram_bytes", "ram", format_bytes, "peak RAM"),
    ("time", "fit_seconds", "time", format_seconds, "fit time"),
    ("latency", "latency_s", "latency", format_seconds, "p95 latency"),
    ("size", "size_bytes", "size", format_bytes, "artefact size"),
)


def triage(budget: Budget, facts: WorkloadFacts) -> Triage:
    """Name the binding constraint.

    Examples
    --------
    >>> t = triage(Budget(memory="4GB", time="10min"),
    ...            WorkloadFacts(memory_bytes=6_100_000_000, fit_seconds=120, context="micro_batch 32, fp32"))
    >>> t.binding, t.evidence
    ('memory', 'estimated peak memory 6.1GB > budget 4GB at micro_batch 32, fp32')
    >>> t.techniques[0]
    "precision='bf16' (or 'fp16' on CUDA)"
    """
    if not isinstance(budget, Budget):
        raise bad_param("budget", "triage", "a Budget", type(budget).__name__)
    if not isinstance(facts, WorkloadFacts):
        raise bad_param("facts", "triage", "a WorkloadFacts", type(facts).__name__)
    at = f" at {facts.context}" if facts.context else ""
    ratios: dict[str, float] = {}
    worst: tuple[float, str, str] | None = None
    for constraint, fact, limit_name, fmt, words in _CHECKS:
        value, limit = getattr(facts, fact), getattr(budget, limit_name)
        if value is None or limit is None:
            continue
        ratio = value / limit
        ratios[limit_name] = ratio
        relation = ">" if ratio > 1 else "<="
        evidence = f"estimated {words} {fmt(value)} {relation} budget {fmt(limit)}{at}"
        if worst is None or ratio > worst[0]:
            worst = (ratio, constraint, evidence)
    if worst is not None and worst[0] > 1:
        return Triage(worst[1], worst[2], list(TECHNIQUES[worst[1]]), ratios)
    if facts.n_labelled_rows is not None and facts.n_labelled_rows < MIN_ROWS_FOR_TRAINING:
        evidence = f"{facts.n_labelled_rows} labelled rows < {MIN_ROWS_FOR_TRAINING}: too few to train from scratch"
        return Triage("data", evidence, list(TECHNIQUES["data"]), ratios)
    if worst is None:
        return Triage("none", "no limit stated, or nothing known to compare it with", [], ratios)
    return Triage("none", f"every stated limit holds; the tightest: {worst[2]}", [], ratios)
