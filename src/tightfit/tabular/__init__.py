"""Tabular workloads: the embedded in-context foundation model (:class:`TinyTFMClassifier`).

Names load on first use, so importing this package does not import torch.
"""

from __future__ import annotations

from tightfit._lazy import lazy_attributes

_LAZY = {"TinyTFMClassifier": "classifier"}

__all__ = sorted(_LAZY)


__getattr__ = lazy_attributes(__name__, _LAZY)
