"""Presentation: one report for every command (HTML, run.json, leaderboard.csv) and terminal tables.

Names load on first use, so importing this package does not import pandas or matplotlib.
"""

from __future__ import annotations

from tightfit._lazy import lazy_attributes

_LAZY = {"write_report": "render", "print_table": "terminal"}

__all__ = sorted(_LAZY)


__getattr__ = lazy_attributes(__name__, _LAZY)
