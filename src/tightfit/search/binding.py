"""`triage(budget, observed, techniques)`: which limit binds, the evidence, and the technique ids that relax it.

One rule for every workload. ``observed`` is either the entries of a search (what each candidate measured and
which limit dropped it) or, before anything ran, the :class:`WorkloadFacts` of one prediction.

- Entries: the binding limit is the one that dropped the most candidates (``over_limit``, or ``skipped`` for
  lack of time); ties go to the larger overshoot. The evidence counts them and says what the chosen entry
  measured against the same cap: ``"memory: 3 of 6 candidates exceeded 2GB; the chosen one peaked at 1.41GB"``
  (time: "did not finish in the time left to them", as each was given what was left when it started).
- Facts: the stated limit with the largest overshoot (value / limit) binds.

When nothing broke a limit the binding is ``"none"`` and the evidence names the tightest limit. The
techniques are the ids registered (:class:`tightfit.registry.Registry`) as relaxing the binding limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tightfit.budget import Budget
from tightfit.errors import bad_param
from tightfit.registry import Registry
from tightfit.search.entry import FIGURES, LIMIT_FORMAT, Entry
from tightfit.units import format_bytes, format_seconds

__all__ = ["MIN_ROWS_FOR_TRAINING", "Triage", "WorkloadFacts", "triage"]

MIN_ROWS_FOR_TRAINING = 1000  # below this many labelled rows, training from scratch is data-bound


@dataclass(frozen=True)
class WorkloadFacts:
    """What is known (measured or predicted) about a workload before a search; every field optional.

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
    """The binding constraint, why, and the ids of the registered techniques that relax it, in order."""

    binding: str
    evidence: str
    techniques: list[str] = field(default_factory=list)
    ratios: dict[str, float] = field(default_factory=dict)  # value / limit, per stated limit

    def to_dict(self) -> dict[str, Any]:
        return {"binding": self.binding, "evidence": self.evidence, "techniques": self.techniques,
                "ratios": self.ratios}  # fmt: skip


_CHECKS = (  # (constraint, facts field, budget field, formatter, words)
    ("memory", "memory_bytes", "memory", format_bytes, "peak memory"),
    ("memory", "ram_bytes", "ram", format_bytes, "peak RAM"),
    ("time", "fit_seconds", "time", format_seconds, "fit time"),
    ("latency", "latency_s", "latency", format_seconds, "p95 latency"),
    ("size", "size_bytes", "size", format_bytes, "artefact size"),
)
_FORMAT = LIMIT_FORMAT | {"quality": lambda drop: f"{drop:.4g}"}
_CHOSEN_WORDS = {"memory": "peaked at", "ram": "peaked at", "size": "measured", "latency": "measured p95",
                 "time": "took"}  # fmt: skip


def _registries(techniques: Registry | Iterable[Registry] | None) -> list[Registry]:
    if techniques is None:
        return []
    return [techniques] if isinstance(techniques, Registry) else list(techniques)


def _relaxing(limit: str, registries: list[Registry]) -> list[str]:
    """The ids relaxing ``limit`` across registries, by each technique's rank (stable in registry order)."""
    found = [registry.technique(tid) for registry in registries for tid in registry.relaxing(limit)]
    return [t.id for t in sorted(found, key=lambda t: t.rank)]


def triage(
    budget: Budget,
    observed: WorkloadFacts | Sequence[Entry],
    techniques: Registry | Iterable[Registry] | None = None,
) -> Triage:
    """Name the binding constraint; see the module docstring.

    Examples
    --------
    >>> t = triage(Budget(memory="4GB", time="10min"),
    ...            WorkloadFacts(memory_bytes=6_100_000_000, fit_seconds=120, context="micro_batch 32, fp32"))
    >>> t.binding, t.evidence
    ('memory', 'estimated peak memory 6.1GB > budget 4GB at micro_batch 32, fp32')
    """
    if not isinstance(budget, Budget):
        raise bad_param("budget", "triage", "a Budget", type(budget).__name__)
    registries = _registries(techniques)
    if isinstance(observed, WorkloadFacts):
        return _from_facts(budget, observed, registries)
    if isinstance(observed, (list, tuple)) and all(isinstance(e, Entry) for e in observed):
        return _from_entries(budget, list(observed), registries)
    raise bad_param("facts", "triage", "a WorkloadFacts or a list of search Entry", type(observed).__name__)


def _from_facts(budget: Budget, facts: WorkloadFacts, registries: list[Registry]) -> Triage:
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
        return Triage(worst[1], worst[2], _relaxing(worst[1], registries), ratios)
    if facts.n_labelled_rows is not None and facts.n_labelled_rows < MIN_ROWS_FOR_TRAINING:
        evidence = f"{facts.n_labelled_rows} labelled rows < {MIN_ROWS_FOR_TRAINING}: too few to train from scratch"
        return Triage("data", evidence, _relaxing("data", registries), ratios)
    if worst is None:
        return Triage("none", "no limit stated, or nothing known to compare it with", [], ratios)
    return Triage("none", f"every stated limit holds; the tightest: {worst[2]}", [], ratios)


def _from_entries(budget: Budget, entries: list[Entry], registries: list[Registry]) -> Triage:
    dropped: dict[str, list[Entry]] = {}
    for entry in entries:
        limit = entry.verdict.limit
        if limit and entry.status in ("over_limit", "skipped"):
            dropped.setdefault(limit, []).append(entry)
    chosen = next((e for e in entries if e.status == "chosen"), None)
    ratios = _chosen_ratios(budget, chosen)
    tried = [e for e in entries if e.measured is not None or e.status in ("over_limit", "failed")]
    if dropped:

        def weight(limit: str) -> tuple[int, float]:
            overshoots = [e.verdict.observed / e.verdict.cap for e in dropped[limit]
                          if e.verdict.observed is not None and e.verdict.cap]  # fmt: skip
            return len(dropped[limit]), max(overshoots, default=0.0)

        binding = max(sorted(dropped), key=weight)
        return Triage(binding, _evidence(binding, dropped[binding], len(tried) or len(entries), chosen, budget),
                      _relaxing(binding, registries), ratios)  # fmt: skip
    if not ratios:
        return Triage("none", "no stated limit dropped a candidate", [], ratios)
    tightest = max(ratios, key=ratios.get)
    fmt = _FORMAT[tightest]
    value = ratios[tightest] * getattr(budget, tightest)
    return Triage("none", f"no stated limit dropped a candidate; the tightest: the chosen one "
                  f"{_CHOSEN_WORDS[tightest]} {fmt(value)} of {fmt(getattr(budget, tightest))} ({tightest})",
                  [], ratios)  # fmt: skip


def _chosen_ratios(budget: Budget, chosen: Entry | None) -> dict[str, float]:
    """Chosen figure / cap for each stated limit the chosen entry has a figure for."""
    ratios: dict[str, float] = {}
    if chosen is None or chosen.measured is None:
        return ratios
    for limit in ("memory", "ram", "latency", "size", "time"):
        cap = getattr(budget, limit)
        value = _figure(chosen, limit)
        if cap and value is not None:
            ratios[limit] = value / cap
    return ratios


def _figure(entry: Entry, limit: str) -> float | None:
    m = entry.measured
    if m is None:
        return None
    if limit == "time":
        return m.projected_s if m.projected_s is not None else m.wall_s
    if limit == "memory":
        return m.memory_peak_bytes
    return getattr(m, FIGURES[limit]) if limit in FIGURES else None  # a workload's own limit (quality drop)


def _evidence(limit: str, dropped: list[Entry], n: int, chosen: Entry | None, budget: Budget) -> str:
    fmt = _FORMAT.get(limit, str)
    cap = next((e.verdict.cap for e in dropped if e.verdict.cap), getattr(budget, limit, None))
    over = [e for e in dropped if e.status == "over_limit"]
    parts = []
    if over and limit == "time":  # each was given the time left when it started: no one cap to name
        parts.append(f"{len(over)} of {n} candidates did not finish in the time left to them")
    elif over:
        parts.append(f"{len(over)} of {n} candidates exceeded {fmt(cap) if cap else 'the limit'}")
    if len(over) < len(dropped):
        parts.append(f"{len(dropped) - len(over)} skipped for lack of it")
    text = f"{limit}: " + ", ".join(parts)
    value = None if chosen is None else _figure(chosen, limit)
    if value is not None:
        text += f"; the chosen one {_CHOSEN_WORDS.get(limit, 'measured')} {fmt(value)}"
    elif chosen is None:
        text += "; none fits"
    return text
