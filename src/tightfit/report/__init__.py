"""Presentation: the HTML report of a fit (leaderboard, chosen model, quality-vs-cost chart).

Names load on first use, so importing this package does not import pandas or matplotlib.
"""

from __future__ import annotations

from tightfit._lazy import lazy_attributes

_LAZY = {"write_fit_report": "html"}

__all__ = sorted(_LAZY)


__getattr__ = lazy_attributes(__name__, _LAZY)
