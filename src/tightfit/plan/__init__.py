"""Plan before you run: predict a training step's peak memory, name the binding constraint, search configs.

- :func:`estimate` — the peak of a training step under fake tensors (no hardware needed);
- :func:`triage` — which limit binds, with evidence and the techniques that relax it (the search core's);
- :func:`plan` — a measured search for the fastest config that fits, with a Pareto chart.
"""

from tightfit.plan.estimate import Estimate, estimate
from tightfit.plan.search import Plan, QualityProbe, config_label, enumerate_candidates, plan
from tightfit.search.binding import Triage, WorkloadFacts, triage

__all__ = [
    "Estimate",
    "Plan",
    "QualityProbe",
    "Triage",
    "WorkloadFacts",
    "config_label",
    "enumerate_candidates",
    "estimate",
    "plan",
    "triage",
]
