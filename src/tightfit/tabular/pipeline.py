"""`TabularPipeline`: TabTune's API — zero-shot, full fine-tuning or LoRA of a tabular foundation model, or a
classical baseline — where every option is checked when the pipeline is built and acts when it runs.

    pipe = TabularPipeline(model_name="TinyTFM", tuning_strategy="peft",
                           tuning_params={"epochs": 5, "peft_config": {"r": 8}})
    pipe.fit(X_train, y_train).evaluate(X_test, y_test)

``fit`` preprocesses the table (:class:`~tightfit.tabular.preprocess.TableProcessor`), encodes string labels,
fits the model and, for ``"base-ft"``/``"peft"``, fine-tunes it on episodes of the training rows through the
training engine (:func:`~tightfit.tabular.finetune.fine_tune_tfm`); the tuned weights are the ones
``predict`` uses and ``save`` writes. ``budget.memory`` sends the fine-tuning config through the planner,
``budget.time`` bounds the fine-tuning run.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from tightfit.budget import Budget
from tightfit.errors import ConfigError, DataError, bad_param, unknown_key
from tightfit.params import Interval, check
from tightfit.tabular.backends import model_spec, normalise_strategy
from tightfit.tabular.preprocess import PROCESSOR_OPTIONS, TableProcessor
from tightfit.tabular.tuning import TuningParams

__all__ = ["TASKS", "TabularPipeline", "as_array"]

TABICL_REPO = "jingang/TabICL"  # where the tabicl package's checkpoints live on the Hugging Face Hub
TASKS = ("classification", "regression")
AUTO_SEARCH_SHARE = 0.5  # of a time budget, what tuning_params="auto" may spend searching
INFERENCE_KEYS = {"device", "seed", "show_progress"}  # the tuning_params that act without fine-tuning
_PROCESSOR_KEYS = (*PROCESSOR_OPTIONS, "max_categories", "drop_constant")


def _memory_held(device) -> int:
    """What this process holds now on ``device``: RSS on the CPU, allocated CUDA memory on a GPU."""
    if device.type == "cuda":
        import torch

        return torch.cuda.memory_allocated(device)
    import psutil

    return psutil.Process().memory_info().rss


def as_array(values: Any) -> np.ndarray:
    """A pandas/polars column or any sequence as a numpy array."""
    return np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values)


class TabularPipeline:
    """Preprocess, fit (and fine-tune), predict, evaluate, save and load one tabular model.

    Parameters
    ----------
    model_name : str, default="TinyTFM"
        ``"TinyTFM"`` (shipped), ``"TabICL"``, ``"TabPFN"`` (their packages), ``"LightGBM"``, ``"RandomForest"``,
        ``"LogisticRegression"``, ``"Ridge"``; case and punctuation do not matter.
    task_type : {"classification", "regression"}, default="classification"
    tuning_strategy : {"inference", "base-ft", "peft"}, default=None
        ``"finetune"`` is an alias of ``"base-ft"``. Fine-tuning strategies exist for the neural models only.
        None is ``"inference"``, or searched with ``tuning_params="auto"``.
    tuning_params : dict or "auto", default=None
        TabTune's keys (:class:`~tightfit.tabular.tuning.TuningParams`); unknown keys raise. ``"auto"`` (or a
        dict with ``"auto": True`` and the keys to keep fixed) searches strategy, LoRA rank, support/query size,
        precision, checkpointing and episodes per pass at ``fit`` for the best held-out quality that fits the
        budget (:func:`~tightfit.tabular.autotune.choose_config`); ``config_choice_`` holds its leaderboard, and
        ``tuning_strategy``/``tuning_params`` become the chosen ones.
    model_params : dict, default=None
        Keyword arguments of the model's estimator (``n_estimators``, ``max_context``, ...).
    processor_params : dict, default=None
        :class:`~tightfit.tabular.preprocess.TableProcessor`'s parameters; unset ones take the model's default.
    budget : Budget, default=None
        ``memory``: the fine-tuning config is planned to fit it and, for TinyTFM, so are the prediction settings
        (context rows, query block, members, context cache: estimated before predicting, :mod:`footprint`; the
        ones set in ``model_params`` stay); a budget below the weights plus one row is refused here.
        ``time``: fine-tuning stops within it.
    model_path : str, default=None
        A local checkpoint for TabICL/TabPFN (or TinyTFM weights written by ``save_tiny_tfm``).
    decision : {"argmax", "balanced"} or float, default="argmax"
        How ``predict`` turns probabilities into labels (:mod:`tightfit.tabular.decision`): the most probable
        class, the most probable relative to its share of the training rows (imbalanced classes), or a
        threshold on the second class's probability (binary tasks).
    """

    auto_tuning = False  # class defaults: a pipeline read back by load() (built without __init__) refits as saved
    _engine_planned = False  # set by the search when it chose the engine knobs: the fine-tune keeps them

    def __init__(
        self,
        model_name: str = "TinyTFM",
        task_type: str = "classification",
        tuning_strategy: str | None = None,
        tuning_params: dict[str, Any] | str | None = None,
        model_params: dict[str, Any] | None = None,
        processor_params: dict[str, Any] | None = None,
        budget: Budget | None = None,
        model_path: str | Path | None = None,
        decision: str | float = "argmax",
    ) -> None:
        from tightfit.tabular.decision import check_decision

        check_decision(decision, "TabularPipeline")
        self.decision = decision
        self.spec = model_spec(model_name)
        self.model_name = self.spec.name
        if task_type not in TASKS:
            raise bad_param("task_type", "TabularPipeline", TASKS, task_type)
        self.task_type = task_type
        self.auto_tuning = tuning_params == "auto" or (isinstance(tuning_params, dict) and "auto" in tuning_params)
        if self.auto_tuning:
            if task_type != "classification":
                raise ConfigError("tuning_params='auto' searches fine-tuning settings, which exist for "
                                  "classification; with task_type='regression' leave tuning_params unset.")  # fmt: skip
            tuning_params = self._auto_request(tuning_params, tuning_strategy)
        self.tuning_strategy = normalise_strategy(tuning_strategy or "inference")
        self.tuning = TuningParams.from_dict(tuning_params)
        self.tuning_params = dict(tuning_params or {})
        if not isinstance(model_params, (dict, type(None))):
            raise bad_param("model_params", "TabularPipeline", "None or a dict", type(model_params).__name__)
        self.model_params = dict(model_params or {})
        if model_path is not None:
            key = "weights" if self.spec.name == "TinyTFM" else "model_path"
            self.model_params[key] = str(model_path)
            if not Path(model_path).exists():
                raise ConfigError(f"model_path={str(model_path)!r} does not exist; {self._where_weights_go()}")
        self.spec.check(task_type, self.tuning_strategy, self.model_params)
        if "model_path" not in self.model_params:
            if self.spec.name == "TabICL":
                self._find_cached_tabicl()
            elif self.spec.name == "TabPFN":
                self._find_cached_tabpfn()
        self._check_tuning_keys()
        self.processor = self._processor(processor_params)
        if budget is not None and not isinstance(budget, Budget):
            raise bad_param("budget", "TabularPipeline", "None or a Budget", type(budget).__name__)
        self.budget = budget or Budget()
        self._check_memory_floor()

    def _auto_request(self, tuning_params: dict[str, Any] | str, tuning_strategy: str | None) -> dict[str, Any]:
        """``tuning_params="auto"`` (or a dict with ``"auto": True``): the keys given besides stay fixed, and so
        does ``tuning_strategy`` when given; returns the fixed keys."""
        fixed = {} if tuning_params == "auto" else dict(tuning_params)
        if fixed.pop("auto", True) is not True:
            raise bad_param("tuning_params['auto']", "TabularPipeline", "True (search the rest)", tuning_params["auto"])
        self.auto_fixed_ = (None if tuning_strategy is None else normalise_strategy(tuning_strategy), dict(fixed))
        return fixed

    def _check_memory_floor(self) -> None:
        """A memory budget below the model's weights plus one row can never fit: say so now, with the floor."""
        if self.budget.memory is None or self.spec.name not in ("TinyTFM", "TabICL", "TabPFN"):
            return
        from tightfit.units import format_bytes

        if self.spec.name == "TinyTFM":
            from tightfit.tabular.footprint import smallest_predict_bytes
            from tightfit.tabular.in_context import _load, weights_path

            weights = weights_path(self.model_params.get("weights"), self.spec.estimator_class(self.task_type).SHIPPED)
            floor = smallest_predict_bytes(_load(str(weights), "cpu"))
            what = "TinyTFM's weights plus one row (estimated)"
        else:
            path = self.model_params.get("model_path")
            if path is None:
                return
            floor, what = Path(path).stat().st_size, f"the {self.spec.name} checkpoint's weights ({path})"
        if self.budget.memory < floor:
            raise ConfigError(
                f"budget memory={format_bytes(self.budget.memory)} is below the smallest that could fit, {what}: "
                f"{format_bytes(floor)}; raise it to at least that."
            )

    def _check_tuning_keys(self) -> None:
        fine_tuning = self.tuning_strategy != "inference" or (self.auto_tuning and self.auto_fixed_[0] is None)
        idle = sorted(set(self.tuning_params) - INFERENCE_KEYS) if not fine_tuning else []
        if idle:
            raise ConfigError(
                f"tuning_params {idle} act only when fine-tuning, and tuning_strategy is 'inference'; "
                "use tuning_strategy='base-ft' or 'peft', or drop them."
            )
        if self.tuning_strategy == "base-ft" and "peft_config" in self.tuning_params:
            raise ConfigError(
                "tuning_params['peft_config'] needs tuning_strategy='peft'; 'base-ft' trains every weight."
            )

    def _processor(self, params: dict[str, Any] | None) -> TableProcessor:
        if not isinstance(params, (dict, type(None))):
            raise bad_param("processor_params", "TabularPipeline", "None or a dict", type(params).__name__)
        for key in params or {}:
            if key not in _PROCESSOR_KEYS:
                raise unknown_key(key, "processor_params", _PROCESSOR_KEYS)
        return TableProcessor(**(self.spec.processor_defaults | (params or {}))).check_params()

    def _find_cached_tabicl(self) -> None:
        """TabICL without ``model_path`` reads its checkpoint from the Hugging Face cache (no download here);
        say where it must be when it is not there."""
        import inspect

        from huggingface_hub import try_to_load_from_cache
        from tabicl import TabICLClassifier

        default = inspect.signature(TabICLClassifier).parameters["checkpoint_version"].default
        filename = self.model_params.get("checkpoint_version", default)
        if not isinstance(try_to_load_from_cache(TABICL_REPO, filename), str):
            raise ConfigError(
                f"no TabICL checkpoint {filename!r} in the Hugging Face cache; {self._where_weights_go()}"
            )

    def _find_cached_tabpfn(self) -> None:
        """TabPFN without ``model_path`` reads its default checkpoint from its cache directory; its own fallback
        is a download (gated behind a licence), so say where the file must be instead of failing inside fit."""
        from tabpfn.model_loading import resolve_model_path, resolve_model_version

        which = "classifier" if self.task_type == "classification" else "regressor"
        paths = resolve_model_path(None, which, version=resolve_model_version(None).value)[0]
        if not paths[0].exists():
            raise ConfigError(f"no TabPFN checkpoint at {str(paths[0])!r}; {self._where_weights_go()}")

    def _where_weights_go(self) -> str:
        if self.spec.name == "TabPFN":
            return (
                "put a TabPFN checkpoint (.ckpt or .safetensors from Prior-Labs on Hugging Face) at model_path, or "
                "into TabPFN's cache directory (TABPFN_MODEL_CACHE_DIR, else ~/.cache/tabpfn)."
            )
        if self.spec.name == "TabICL":
            return (
                "put a TabICL checkpoint (.ckpt with 'config' and 'state_dict') at model_path, or into the Hugging "
                f"Face cache (huggingface-cli download {TABICL_REPO} <checkpoint_version>)."
            )
        return "point it at an existing checkpoint file."

    # -- fit ---------------------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> TabularPipeline:
        """Preprocess, fit and (for ``base-ft``/``peft``) fine-tune; returns self. With ``tuning_params="auto"``
        the strategy and settings are searched first (:func:`~tightfit.tabular.autotune.choose_config`)."""
        from tightfit.measure import Deadline

        started = time.perf_counter()
        self._clock = Deadline(self.budget.time)
        X, y = self._check_target(X, y)
        self.config_choice_ = self._choose_config(X, y) if self.auto_tuning else None
        self.processor_ = copy.deepcopy(self.processor).fit(X)
        self.interval_residuals_ = None  # set by AutoFit from its cross-validation; a refit makes them stale
        self.notes_ = self.target_notes_ + self.processor_.notes_
        if self.config_choice_ is not None:
            self.notes_ += [*self.config_choice_.notes, f"tuning_params='auto' chose {self.config_choice_.label}"]
        matrix = self.processor_.transform(X)
        device = self.tuning.device
        self.model_ = self.spec.factory(self.task_type, self.model_params, self.tuning.seed, device)
        if self.task_type == "classification":
            from sklearn.preprocessing import LabelEncoder

            self.label_encoder_ = LabelEncoder().fit(y)
            self.classes_ = self.label_encoder_.classes_
            target = self.label_encoder_.transform(y)
            self.priors_ = np.bincount(target, minlength=len(self.classes_)) / len(target)
            if not isinstance(self.decision, str) and len(self.classes_) != 2:
                raise ConfigError(f"decision={self.decision} (a threshold) needs a binary target; y has "
                                  f"{len(self.classes_)} classes. Use 'argmax' or 'balanced'.")  # fmt: skip
        else:
            target = np.asarray(y, dtype=np.float64)
        self.model_.fit(matrix, target)
        self.finetune_ = None
        if self.tuning_strategy != "inference":
            self.finetune_ = self._fine_tune()
        self.prediction_plan_ = self._plan_prediction()
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def _choose_config(self, X: Any, y: np.ndarray):
        """Search the strategy and fine-tuning settings (``tuning_params="auto"``); the chosen ones become this
        pipeline's ``tuning_strategy`` and ``tuning_params``. Under a time budget the search gets
        ``AUTO_SEARCH_SHARE`` of it, and a setting fits when its projected fit takes less than the rest."""
        from tightfit.measure import Deadline
        from tightfit.tabular.autotune import choose_config

        strategy, fixed = self.auto_fixed_
        budget, deadline = self.budget, None
        if budget.time is not None:
            left = self._clock.left()
            deadline = Deadline(AUTO_SEARCH_SHARE * left)
            budget = dataclasses.replace(budget, time=(1 - AUTO_SEARCH_SHARE) * left)
        choice = choose_config(self.model_name, X, y, budget, strategy=strategy, fixed=fixed,
                               model_params=self.model_params, random_state=self.tuning.seed, deadline=deadline,
                               verbose=self.tuning.show_progress)  # fmt: skip
        self.tuning_strategy, self.tuning_params = choice.strategy, choice.tuning_params
        self.tuning = TuningParams.from_dict(choice.tuning_params)
        self._engine_planned = True
        return choice

    def _plan_prediction(self):
        """Under ``budget.memory``, TinyTFM's prediction settings that fit what this process has left (the
        budget less a safety margin and what it holds now), estimated before any prediction runs; the
        estimator is set to them and the notes say what had to give."""
        if self.budget.memory is None or self.spec.name != "TinyTFM":
            return None
        from tightfit.errors import BudgetExceeded
        from tightfit.tabular.footprint import PredictSettings, plan_prediction, tensor_limit
        from tightfit.tabular.wide import draws_columns
        from tightfit.units import format_bytes

        model = self.model_
        n_features = len(model.selected_features_)  # the columns its members read (feature_selection)
        shared_inputs = not draws_columns(n_features, model.max_features, model.feature_reduction)
        n_features = min(n_features, model.max_features)  # a member of a wider table reads max_features inputs
        device = next(model.model_.parameters()).device
        held = _memory_held(device)
        limit = tensor_limit(self.budget.memory, held, device.type)
        cached = model.context_cache is not False
        wanted = PredictSettings(model.max_context, model.batch_size, model.n_estimators, cached)
        n_classes = len(self.classes_) if self.task_type == "classification" else 1  # a regressor codes one context
        multiclass = model.multiclass if self.task_type == "classification" else "direct"  # a regressor: one
        plan = plan_prediction(model.model_, len(model.y_), n_features, n_classes, limit, wanted, device=device.type,
                               fixed=frozenset(self.model_params), multiclass=multiclass,
                               shared_inputs=shared_inputs)  # fmt: skip
        if plan.settings is None:
            raise BudgetExceeded(
                "memory", self.budget.memory, held + plan.peak,
                detail=f"predicting needs {format_bytes(plan.peak)} on top of the {format_bytes(held)} this process "
                f"holds ({plan.steps[0]})",
                hint="raise the memory budget, or leave max_context/n_estimators/batch_size unset so they can shrink",
            )  # fmt: skip
        model.set_params(**plan.settings.as_params())
        if plan.steps:
            self.notes_.append(
                f"prediction planned for memory={format_bytes(self.budget.memory)} (estimated peak "
                f"{format_bytes(plan.peak)} over {format_bytes(held)} held): " + "; ".join(plan.steps)
            )
        return plan

    def _check_target(self, X: Any, y: Any) -> tuple[Any, np.ndarray]:
        from tightfit.tabular.target import clean_target

        X, y, _, self.target_notes_ = clean_target(X, y, self.task_type)
        if self.task_type == "classification":
            if y.dtype.kind == "f" and len(np.unique(y)) > max(20, len(y) // 2):
                raise DataError(
                    f"y has {len(np.unique(y))} distinct float values; for a continuous target use "
                    "task_type='regression'."
                )
        elif y.dtype.kind not in "iuf":
            raise DataError(f"task_type='regression' needs a numeric y; got dtype {y.dtype}.")
        return X, y

    def _fine_tune(self):
        from tightfit.tabular.finetune import fine_tune_tfm
        from tightfit.tabular.models.tiny import task_loss

        estimator = self.model_
        if self.spec.name == "TabICL":  # tune on the view its first ensemble member predicts from
            views = estimator.ensemble_generator_.transform(X=None, mode="train")
            X_view, y_view = next(iter(views.values()))
            X_train, y_train = X_view[0].astype(np.float32), y_view[0].astype(np.int64)
        else:  # the inputs its members read (a wide table's reduced to max_features; see tabular.wide)
            X_train, y_train = estimator.tuning_view(), estimator.y_
        tuned = copy.deepcopy(estimator.model_)  # a loaded checkpoint may be shared; tune a copy
        budget = self.budget
        if self._engine_planned:  # the search measured these engine knobs within the memory budget
            budget = dataclasses.replace(budget, memory=None)
        if budget.time is not None:  # the fine-tune gets what is left of the pipeline's time
            budget = dataclasses.replace(budget, time=max(0.05 * budget.time, self._clock.left()))
        result = fine_tune_tfm(
            tuned, X_train, y_train, self.tuning, lora=self.tuning_strategy == "peft",
            loss_fn=task_loss(self.task_type), budget=budget,
        )  # fmt: skip
        estimator.model_ = tuned
        if getattr(estimator, "model_kv_cache_", None) is not None:
            estimator._build_kv_cache()  # TabICL's cached context was computed with the old weights
        return result

    # -- predict -----------------------------------------------------------------------------------------
    def _matrix(self, X: Any) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise ConfigError("this TabularPipeline is not fitted yet; call fit(X, y) first.")
        return self.processor_.transform(X)

    def predict(self, X: Any) -> np.ndarray:
        """Labels (in the original label values) or regression values."""
        if self.task_type == "regression":
            return np.asarray(self.model_.predict(self._matrix(X)), dtype=np.float64)
        from tightfit.tabular.decision import decide

        return decide(self.predict_proba(X), self.classes_, self.decision, self.priors_)

    def check_intervals(self) -> None:
        """Raise ``ConfigError`` unless :meth:`predict_interval` works: a fitted regression model that predicts
        a distribution (TinyTFM), or one whose cross-validated errors AutoFit kept (``interval_residuals_``)."""
        distribution = hasattr(getattr(self, "model_", None), "predict_interval")
        cross_validated = getattr(self, "interval_residuals_", None) is not None
        if self.task_type != "regression" or not (distribution or cross_validated):
            raise ConfigError(
                f"predict_interval needs a regression model that predicts a distribution (TinyTFM), or one chosen by "
                f"AutoFit / tightfit fit (intervals from its cross-validated errors); this is {self.model_name} for "
                f"{self.task_type}, fitted directly."
            )

    def predict_interval(self, X: Any, coverage: float = 0.8) -> np.ndarray:
        """The central ``coverage`` interval of each row's prediction, (n_rows, 2): lower, upper. A model that
        predicts a distribution (TinyTFM) reads it; another one chosen by AutoFit is its prediction plus or minus
        the conformal quantile of its out-of-fold absolute errors (:func:`tightfit.tabular.intervals.half_width`)."""
        check("TabularPipeline.predict_interval", coverage=(coverage, Interval(float, 0, 1, closed="neither")))
        self.check_intervals()
        if hasattr(self.model_, "predict_interval"):
            return np.asarray(self.model_.predict_interval(self._matrix(X), coverage), dtype=np.float64)
        from tightfit.tabular.intervals import half_width

        center, half = self.predict(X).astype(np.float64), half_width(self.interval_residuals_, coverage)
        return np.column_stack([center - half, center + half])

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        if self.task_type != "classification":
            raise ConfigError("predict_proba needs task_type='classification'.")
        proba = np.asarray(self.model_.predict_proba(self._matrix(X)), dtype=np.float64)
        return proba / proba.sum(axis=1, keepdims=True)

    def evaluate(self, X: Any, y: Any) -> dict[str, float]:
        """Held-out metrics: accuracy, balanced_accuracy, roc_auc_score, f1_score, precision, recall, mcc,
        log_loss, brier_score, ece (classification); r2, rmse, mae, median_ae, mape (regression)."""
        from tightfit.tabular.metrics import classification_metrics, regression_metrics

        y = as_array(y)
        if self.task_type == "regression":
            return regression_metrics(y, self.predict(X))
        from tightfit.tabular.decision import decide

        proba = self.predict_proba(X)
        labels = decide(proba, self.classes_, self.decision, self.priors_)
        return classification_metrics(y, proba, self.classes_, labels)

    def confusion_matrix(self, X: Any, y: Any):
        """Counts of true (rows) against predicted (columns) labels under ``decision``, as a DataFrame."""
        import pandas as pd
        from sklearn.metrics import confusion_matrix

        if self.task_type != "classification":
            raise ConfigError("confusion_matrix needs task_type='classification'.")
        counts = confusion_matrix(as_array(y), self.predict(X), labels=self.classes_)
        names = [str(c) for c in self.classes_]
        return pd.DataFrame(counts, index=pd.Index(names, name="true"), columns=pd.Index(names, name="predicted"))

    def evaluate_calibration(self, X: Any, y: Any, n_bins: int = 10) -> dict[str, Any]:
        """ECE, MCE, Brier score and the reliability bins of the top-label confidence."""
        from tightfit.tabular.metrics import calibration

        check("evaluate_calibration", n_bins=(n_bins, Interval(int, 2)))
        y = as_array(y)
        return calibration(y, self.predict_proba(X), self.classes_, n_bins)

    # -- save / load -------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the fitted pipeline (preprocessing, labels, decision, tuned weights) into the folder ``path``,
        atomically, in a format that loads without running code (:mod:`tightfit.tabular.saved`)."""
        from tightfit.tabular.saved import save_pipeline

        return save_pipeline(self, path)

    @classmethod
    def load(cls, path: str | Path, trust: bool = False, device: str = "auto") -> TabularPipeline:
        """Read a pipeline written by :meth:`save`. A pickle (the single ``.tfp`` file of older versions) is
        refused unless ``trust=True``; ``device`` is where a neural model runs now."""
        from tightfit.tabular.saved import load_pipeline

        return load_pipeline(path, trust=trust, device=device)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["spec"] = None  # factories are functions of this module version; rebuilt from the name
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.spec = model_spec(self.model_name)

    def __repr__(self) -> str:
        return (
            f"TabularPipeline(model_name={self.model_name!r}, task_type={self.task_type!r}, "
            f"tuning_strategy={self.tuning_strategy!r})"
        )

    def summary(self) -> dict[str, Any]:
        """What was fitted and measured: model, strategy, fit seconds, fine-tuning figures."""
        out: dict[str, Any] = {
            "model_name": self.model_name,
            "task_type": self.task_type,
            "tuning_strategy": self.tuning_strategy,
            "tuning_params": self.tuning.to_dict(),
        }
        if hasattr(self, "fit_seconds_"):
            out["fit_seconds"] = self.fit_seconds_
        if getattr(self, "config_choice_", None) is not None:
            out["config_search"] = self.config_choice_.to_dict()
        if getattr(self, "finetune_", None) is not None:
            out["finetune"] = self.finetune_.to_dict()
        elif getattr(self, "saved_finetune_", None) is not None:  # loaded: the record saved with the weights
            out["finetune"] = self.saved_finetune_
        return out
