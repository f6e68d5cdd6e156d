"""The one candidate loop every workload uses: find, measure, judge and report candidates the same way.

- :class:`Entry`, :class:`Measured`, :class:`Verdict` — a candidate, its figures and the decision, in one
  vocabulary (``chosen``, ``fits``, ``over_limit``, ``failed``, ``skipped``);
- :func:`run_candidates` — cheapest first, each in a guarded child (or inline), limits applied the same way;
- :class:`Leaderboard` — the result of every search; :func:`triage` — the limit that binds, with evidence.

Names load on first use, so importing this package does not import pandas.
"""

from __future__ import annotations

from tightfit._lazy import lazy_attributes

_LAZY = {
    "Entry": "entry",
    "Measured": "entry",
    "Verdict": "entry",
    "STATUSES": "entry",
    "Leaderboard": "leaderboard",
    "Outcome": "loop",
    "SkipEntry": "loop",
    "judge": "loop",
    "run_candidates": "loop",
    "best_quality": "loop",
    "fastest_within_tie": "loop",
    "Triage": "binding",
    "WorkloadFacts": "binding",
    "triage": "binding",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_attributes(__name__, _LAZY)
