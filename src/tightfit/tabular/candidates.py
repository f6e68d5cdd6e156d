"""The tabular candidates AutoFit can try, registered once by id (``CANDIDATES``), cheapest first.

A :class:`Candidate` is the spec of one entry: a label and the :class:`TabularPipeline` arguments. Each
registry entry builds the candidate for a task (``None`` where it does not apply) and says which budget
limits it relaxes, so the search's triage can name it. Adding a tabular backend is a model factory in
``backends.py`` plus one ``CANDIDATES.register`` line here (see ``docs/extending.md``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from tightfit.registry import Registry

__all__ = ["CANDIDATES", "Candidate", "candidates_for", "default_candidates", "select_candidates"]

_FINE_TUNE = {"support_size": 128, "query_size": 64, "batch_size": 4, "steps_per_epoch": 5, "epochs": 4}


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One entry of the search: a label and the :class:`TabularPipeline` arguments; ``student`` ("LightGBM" or
    "MLP") distils each fitted pipeline into that student (:func:`tightfit.tabular.distil`)."""

    label: str
    model_name: str
    tuning_strategy: str = "inference"
    tuning_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    model_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    student: str | None = None

    def distilled(self, student: str = "LightGBM") -> Candidate:
        """This candidate's fitted pipelines, each distilled into ``student``."""
        return dataclasses.replace(self, label=f"{self.label} -> {student} student", student=student)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


CandidateFor = Callable[[str], "Candidate | None"]  # task -> the candidate, or None where it does not apply
CANDIDATES: Registry[CandidateFor] = Registry("tabular candidate")


def _both(candidate: Candidate) -> CandidateFor:
    return lambda task: candidate


def _classification(candidate: Candidate) -> CandidateFor:
    return lambda task: candidate if task == "classification" else None


CANDIDATES.register(
    "TinyTFM zero-shot",
    _both(Candidate("TinyTFM zero-shot", "TinyTFM")),
    relaxes=("data", "time"),
    rank=1,
    summary="the shipped tabular foundation model, in context",
)
CANDIDATES.register(
    "LogisticRegression",
    _classification(Candidate("LogisticRegression", "LogisticRegression")),
    relaxes=("latency", "size", "time", "memory"),
    rank=20,
    summary="a linear baseline",
)
CANDIDATES.register(
    "LightGBM",
    _both(Candidate("LightGBM", "LightGBM")),
    relaxes=("latency", "time", "memory"),
    rank=21,
    summary="gradient-boosted trees",
)
CANDIDATES.register("RandomForest", lambda task: Candidate(
    "RandomForest", "RandomForest", model_params={"n_estimators": 300} if task == "classification" else {}),
    relaxes=("data",), rank=22, summary="a random forest")  # fmt: skip
CANDIDATES.register(
    "Ridge",
    lambda task: Candidate("Ridge", "Ridge") if task == "regression" else None,
    relaxes=("latency", "size", "time", "memory"),
    rank=23,
    summary="a linear regression baseline",
)
CANDIDATES.register("TinyTFM ensemble", _both(Candidate(
    "TinyTFM ensemble", "TinyTFM", model_params={"n_estimators": 8})), relaxes=("data",), rank=2,
    summary="8 TinyTFM members; a classifier's read only the columns that help on its context")  # fmt: skip
CANDIDATES.register("TinyTFM LoRA", _classification(Candidate(
    "TinyTFM LoRA", "TinyTFM", "peft", _FINE_TUNE | {"peft_config": {"r": 8, "lora_alpha": 16}})),
    relaxes=("data",), rank=5, summary="TinyTFM fine-tuned with LoRA adapters")  # fmt: skip
CANDIDATES.register(
    "TinyTFM full FT",
    _classification(Candidate("TinyTFM full FT", "TinyTFM", "base-ft", _FINE_TUNE)),
    relaxes=("data",),
    rank=6,
    summary="TinyTFM fully fine-tuned on episodes of the table",
)


def candidates_for(task: str) -> Registry[Candidate]:
    """The registered candidates that apply to ``task``, with what each relaxes: the registry a search's triage
    names techniques from (a regression's time limit is not relaxed by logistic regression)."""
    registry: Registry[Candidate] = Registry(f"{task} candidate")
    for cid in CANDIDATES:
        technique = CANDIDATES.technique(cid)
        candidate = technique.obj(task)
        if candidate is not None:
            registry.register(cid, candidate, technique.relaxes, technique.summary, technique.rank)
    return registry


def default_candidates(task: str) -> list[Candidate]:
    """Every registered candidate that applies to ``task``, in registry order (cheapest first)."""
    registry = candidates_for(task)
    return [registry[cid] for cid in registry]


def select_candidates(names: str, task: str) -> list[Candidate]:
    """The default candidates named in a comma-separated list (case and punctuation ignored); an unknown name
    is a ConfigError with the closest known one."""
    from tightfit.errors import unknown_key
    from tightfit.tabular.backends import normalise_name

    available = {normalise_name(c.label): c for c in default_candidates(task)}
    chosen = []
    for name in filter(None, (n.strip() for n in names.split(","))):
        if normalise_name(name) not in available:
            raise unknown_key(name, "--models", [c.label for c in available.values()])
        chosen.append(available[normalise_name(name)])
    return chosen
