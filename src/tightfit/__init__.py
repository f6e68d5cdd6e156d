"""tightfit: fit machine learning to the machine you have.

State a :class:`Budget`; tightfit measures the workload, names the binding constraint, picks the
techniques that make it fit, runs it guarded, and reports what it measured.

``import tightfit`` is light: torch and the optional back ends load when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

from tightfit.budget import Budget
from tightfit.errors import (
    BudgetExceeded,
    ChildProcessFailed,
    ConfigError,
    DataError,
    TightfitError,
    TrainingDiverged,
)
from tightfit.hardware import Hardware

__version__ = "0.1.0"

_LAZY = {
    "AutoFit": "tightfit.tabular.autofit",
    "load": "tightfit.serve.loading",
    "run_limited": "tightfit.guard",
    "MemoryMonitor": "tightfit.measure",
    "track_peak": "tightfit.measure",
    "latency": "tightfit.measure",
    "size_of": "tightfit.measure",
    "measure": "tightfit.measure",
}

__all__ = [
    "Budget",
    "BudgetExceeded",
    "ChildProcessFailed",
    "ConfigError",
    "DataError",
    "Hardware",
    "TightfitError",
    "TrainingDiverged",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'tightfit' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    value = module if module.__name__ == f"tightfit.{name}" else getattr(module, name)
    globals()[name] = value
    return value
