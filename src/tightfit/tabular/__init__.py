"""Tabular workloads: :class:`TabularPipeline` (TabTune's API: zero-shot, full fine-tuning or LoRA of a tabular
foundation model, or a classical baseline) and the embedded in-context models (:class:`TinyTFMClassifier`,
:class:`TinyTFMRegressor`).

Names load on first use, so importing this package does not import torch.
"""

from __future__ import annotations

from tightfit._lazy import lazy_attributes

_LAZY = {
    "ActiveLearner": "active",
    "AutoFit": "autofit",
    "CANDIDATES": "candidates",
    "ConfigChoice": "autotune",
    "Candidate": "candidates",
    "LearningCurve": "learning_curve",
    "PredictSettings": "footprint",
    "TabularLeaderboard": "leaderboard",
    "TabularPipeline": "pipeline",
    "TinyTFMClassifier": "classifier",
    "TinyTFMRegressor": "regressor",
    "TuningParams": "tuning",
    "choose_config": "autotune",
    "compress_pipeline": "shrink",
    "distil": "distillation",
    "plan_prediction": "footprint",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_attributes(__name__, _LAZY)
