"""The models a :class:`~tightfit.tabular.pipeline.TabularPipeline` can run, by name.

A :class:`ModelSpec` says which tasks and tuning strategies a model supports, which preprocessing it needs
by default, which package it comes from, and how to build its estimator. Names match case- and
punctuation-insensitively (``"tiny-tfm"``, ``"TinyTFM"``, ``"tinytfm"``), so that every check can run
when the pipeline is constructed, before any data is read.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tightfit.errors import ConfigError, bad_param, unknown_key

__all__ = ["MODELS", "STRATEGIES", "ModelSpec", "model_spec", "normalise_name"]

STRATEGIES = ("inference", "base-ft", "peft")
_STRATEGY_ALIASES = {"finetune": "base-ft", "fine-tune": "base-ft", "baseft": "base-ft", "lora": "peft"}
_IMPUTE_AND_SCALE = {"imputation_strategy": "median", "scaling_strategy": "standard", "categorical_encoding": "onehot"}


@dataclass(frozen=True)
class ModelSpec:
    """One model: its display name, tasks, tuning strategies, default ``processor_params``, and its factory."""

    name: str
    tasks: tuple[str, ...]
    strategies: tuple[str, ...]
    factory: Callable[[str, dict[str, Any], int, str], Any]  # (task, model_params, seed, device) -> estimator
    package: str | None = None  # import name that must be installed
    install: str = ""
    processor_defaults: dict[str, Any] = field(default_factory=dict)

    def estimator_class(self, task: str):
        return self.factory(task, {}, 0, "cpu").__class__

    def check(self, task: str, strategy: str, model_params: dict[str, Any]) -> None:
        """Raise ``ConfigError`` for a task, strategy or model parameter this model cannot take."""
        if self.package is not None and importlib.util.find_spec(self.package) is None:
            raise ConfigError(
                f"model_name={self.name!r} needs the {self.package!r} package: pip install {self.install}."
            )
        if task not in self.tasks:
            raise ConfigError(
                f"model_name={self.name!r} supports task_type {' or '.join(map(repr, self.tasks))}, not {task!r}; "
                f"for {task} use one of {', '.join(m.name for m in MODELS.values() if task in m.tasks)}."
            )
        if strategy not in self.strategies:
            raise ConfigError(
                f"tuning_strategy={strategy!r} is not available for model_name={self.name!r}, which supports "
                f"{', '.join(map(repr, self.strategies))}"
                + ("" if "peft" in self.strategies else " (LoRA adapts neural networks; this model has none)")
                + "."
            )
        allowed = set(inspect.signature(self.estimator_class(task)).parameters) - {"self", "args", "kwargs"}
        for key in model_params:
            if key not in allowed:
                raise unknown_key(key, f"model_params of {self.name}", allowed)


def _tinytfm(task: str, params: dict[str, Any], seed: int, device: str):
    if task == "classification":
        from tightfit.tabular.classifier import TinyTFMClassifier as cls
    else:
        from tightfit.tabular.regressor import TinyTFMRegressor as cls
    return cls(**({"random_state": seed, "device": device} | params))


def _tabicl(task: str, params: dict[str, Any], seed: int, device: str):
    from tabicl import TabICLClassifier, TabICLRegressor

    cls = TabICLClassifier if task == "classification" else TabICLRegressor
    return cls(**({"random_state": seed, "device": device, "allow_auto_download": False} | params))


def _tabpfn(task: str, params: dict[str, Any], seed: int, device: str):
    from tabpfn import TabPFNClassifier, TabPFNRegressor

    cls = TabPFNClassifier if task == "classification" else TabPFNRegressor
    return cls(**({"random_state": seed, "device": device} | params))


def _lightgbm(task: str, params: dict[str, Any], seed: int, device: str):
    from lightgbm import LGBMClassifier, LGBMRegressor

    cls = LGBMClassifier if task == "classification" else LGBMRegressor
    return cls(**({"random_state": seed, "verbose": -1} | params))


def _random_forest(task: str, params: dict[str, Any], seed: int, device: str):
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    cls = RandomForestClassifier if task == "classification" else RandomForestRegressor
    return cls(**({"random_state": seed} | params))


def _logistic_regression(task: str, params: dict[str, Any], seed: int, device: str):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(**({"random_state": seed, "max_iter": 2000} | params))


def _ridge(task: str, params: dict[str, Any], seed: int, device: str):
    from sklearn.linear_model import Ridge

    return Ridge(**params)


MODELS: dict[str, ModelSpec] = {
    "tinytfm": ModelSpec("TinyTFM", ("classification", "regression"), STRATEGIES, _tinytfm),
    "tabicl": ModelSpec("TabICL", ("classification",), STRATEGIES, _tabicl, package="tabicl", install="tabicl"),
    "tabpfn": ModelSpec(
        "TabPFN", ("classification", "regression"), ("inference",), _tabpfn, package="tabpfn", install="tabpfn"
    ),
    "lightgbm": ModelSpec(
        "LightGBM", ("classification", "regression"), ("inference",), _lightgbm, package="lightgbm", install="lightgbm"
    ),
    "randomforest": ModelSpec("RandomForest", ("classification", "regression"), ("inference",), _random_forest),
    "logisticregression": ModelSpec(
        "LogisticRegression",
        ("classification",),
        ("inference",),
        _logistic_regression,
        processor_defaults=_IMPUTE_AND_SCALE,
    ),
    "ridge": ModelSpec("Ridge", ("regression",), ("inference",), _ridge, processor_defaults=_IMPUTE_AND_SCALE),
}


def normalise_name(name: str) -> str:
    """``"Tiny-TFM"`` -> ``"tinytfm"``: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def model_spec(name: Any) -> ModelSpec:
    """The spec for ``name``; an unknown name raises with the closest known one."""
    if not isinstance(name, str):
        raise bad_param("model_name", "TabularPipeline", [m.name for m in MODELS.values()], name)
    key = normalise_name(name)
    if key not in MODELS:
        raise unknown_key(name, "model_name", [m.name for m in MODELS.values()])
    return MODELS[key]


def normalise_strategy(strategy: Any) -> str:
    if isinstance(strategy, str):
        key = strategy.lower().replace("_", "-")
        key = _STRATEGY_ALIASES.get(key, key)
        if key in STRATEGIES:
            return key
    raise bad_param("tuning_strategy", "TabularPipeline", [*STRATEGIES, "finetune"], strategy)
