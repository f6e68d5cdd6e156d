"""Fine-tune an in-context tabular model on a user's rows: episodes in, the training engine, tuned weights out.

:func:`fine_tune_tfm` holds out a stratified fifth of the rows for validation episodes (context from the
training rows, queries from the held-out ones), measures the zero-shot validation loss, trains through
:class:`~tightfit.train.Trainer` with the config that :class:`~tightfit.tabular.tuning.TuningParams` maps to
(full or LoRA, precision, micro-batch x accumulation, checkpointing, early stopping, time budget), and — when
the budget states memory — lets the planner pick the config that fits first. LoRA adapters are merged into
the base weights at the end, so the tuned model has the original structure, size and speed. If no epoch beat
the zero-shot validation loss, the zero-shot weights are kept and the result says so.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tightfit.budget import Budget
from tightfit.errors import BudgetExceeded
from tightfit.measure import Deadline, stopwatch
from tightfit.tabular.episodes import EpisodeBatches
from tightfit.tabular.models.tiny import TinyTFM, save_tiny_tfm
from tightfit.tabular.tuning import TuningParams
from tightfit.train import Trainer, TrainResult
from tightfit.train.techniques import merge_lora_, remove_checkpointing_

__all__ = ["FineTuneResult", "fine_tune_tfm", "output_classes"]

log = logging.getLogger(__name__)
VALIDATION_FRACTION = 0.2
MIN_VALIDATION_ROWS = 10


@dataclass
class FineTuneResult:
    """What fine-tuning did and measured: the engine's result, the config it ran (after planning), validation
    loss before and after, and whether the tuned weights were kept."""

    train: TrainResult
    config: dict[str, Any]
    val_loss_zero_shot: float | None
    val_loss_tuned: float | None
    kept: str  # "tuned" or "zero-shot"
    plan: list[dict[str, str]] = field(default_factory=list)

    @property
    def trainable_params(self) -> int:
        return self.train.trainable_params

    @property
    def total_params(self) -> int:
        return self.train.total_params

    def to_dict(self) -> dict[str, Any]:
        return {
            "train": self.train.to_dict(),
            "config": self.config,
            "val_loss_zero_shot": self.val_loss_zero_shot,
            "val_loss_tuned": self.val_loss_tuned,
            "kept": self.kept,
            "plan": self.plan,
        }


def output_classes(model: nn.Module) -> int:
    """The classes a TinyTFM or TabICL network can output at once."""
    return model.config.max_classes if isinstance(model, TinyTFM) else model.max_classes  # TabICL's attribute


def _split(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train/validation row indices, stratified by class (not for a float target); none when there are too few."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(y))
    n_val = int(len(y) * VALIDATION_FRACTION)
    if n_val < MIN_VALIDATION_ROWS:
        return rows, rows[:0]
    stratify = None
    if y.dtype.kind in "iu":
        counts = np.bincount(y)
        stratify = y if counts[counts > 0].min() >= 2 else None
    return train_test_split(rows, test_size=n_val, random_state=seed, stratify=stratify)


def _quantile_view(X_fit: np.ndarray, *others: np.ndarray, seed: int) -> list[np.ndarray]:
    from sklearn.preprocessing import QuantileTransformer

    quantiles = QuantileTransformer(n_quantiles=min(1000, len(X_fit)), output_distribution="normal", random_state=seed)
    quantiles.fit(X_fit)
    return [quantiles.transform(a).astype(np.float32) for a in (X_fit, *others)]


def episode_data(
    X: np.ndarray, y: np.ndarray, params: TuningParams, max_classes: int, task: str = "classification"
) -> tuple[EpisodeBatches, EpisodeBatches | None]:
    """Training episodes and (when there are enough rows) fixed validation episodes."""
    train_rows, val_rows = _split(y, params.seed)
    X_train, y_train = X[train_rows], y[train_rows]
    views = _quantile_view(X_train, X[val_rows], seed=params.seed) if len(train_rows) >= 10 else [None, None]
    common = dict(
        support_size=params.support_size, query_size=params.query_size, mode=params.finetune_mode,
        max_classes=max_classes, seed=params.seed, task=task,
    )  # fmt: skip
    train = EpisodeBatches(X_train, y_train, n_episodes=params.episodes_per_epoch, X_view=views[0], **common)
    if params.finetune_mode == "sft" and params.n_episodes is None and params.steps_per_epoch is None:
        train.n_episodes = -(-len(y_train) // train.query_size)  # every row a query once per epoch
    if not len(val_rows):
        return train, None
    val = EpisodeBatches(
        X_train, y_train, n_episodes=max(8, params.batch_size), X_view=views[0],
        query_X=X[val_rows], query_y=y[val_rows], query_view=views[1], **common,
    )  # fmt: skip
    return train, val


def fine_tune_tfm(
    model: nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    params: TuningParams,
    lora: bool,
    loss_fn,
    budget: Budget | None = None,
    merge: bool = True,
) -> FineTuneResult:
    """Fine-tune ``model`` in place on ``X`` (float32, NaN allowed) and class codes ``y`` (a float target for a
    regression TinyTFM); see the module docstring. ``model`` is a TinyTFM or a TabICL network: in training mode
    both map ``(x, y_context)`` to the query rows' logits. ``merge=False`` leaves LoRA adapters in place."""
    budget = dataclasses.replace(budget or Budget(), device=params.device)
    clock = Deadline(budget.time)
    task = model.config.task if isinstance(model, TinyTFM) else "classification"
    train, val = episode_data(X, y, params, output_classes(model), task)
    config = params.train_config(lora=lora)
    if val is None and config.early_stopping is not None:
        log.info("too few rows for validation episodes: early stopping is off")
        config = dataclasses.replace(config, early_stopping=None)
    plan_rows: list[dict[str, Any]] = []
    if budget.memory is not None:
        from tightfit.plan import plan
        from tightfit.plan.search import enumerate_candidates

        # the strategy is the user's: full fine-tuning stays full, LoRA keeps the user's adapter settings
        options = enumerate_candidates(model, config, budget.resolve_device(), keep=("lora",))
        chosen = plan(
            copy.deepcopy(model), train, budget, candidates=options, base_config=config, loss_fn=loss_fn, max_measured=1
        )
        plan_rows = chosen.leaderboard.records()
        if chosen.chosen is None:
            reasons = "; ".join(f"{e.name}: {e.reason}" for e in chosen.candidates[:3])
            raise BudgetExceeded(
                "memory", budget.memory, None, detail=f"no fine-tuning config fits ({reasons})",
                hint="raise the memory budget, lower support_size/query_size, or use tuning_strategy='inference'",
            )  # fmt: skip
        config = dataclasses.replace(chosen.chosen, verbose=config.verbose)
    zero_shot_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    trainer = Trainer(model, loss_fn, config)
    device = torch.device(budget.resolve_device())
    model.to(device)
    before, before_s = stopwatch(_val_loss, trainer, val)
    if budget.time is not None:  # the budget covers the whole fine-tune: the set-up, both validation passes
        left = clock.left() - before_s
        budget = dataclasses.replace(budget, time=max(0.1 * budget.time, left))
    data = train
    if params.num_workers or params.pin_memory:
        data = torch.utils.data.DataLoader(
            train, batch_size=params.batch_size, num_workers=params.num_workers, pin_memory=params.pin_memory
        )
    result = trainer.fit(data, val_data=val, budget=budget)
    applied = trainer.apply_techniques()
    after = _val_loss(trainer, val)
    if "checkpointing" in applied:
        remove_checkpointing_(model)
    if "lora" in applied and merge:
        merge_lora_(model)
    kept = "tuned"
    if before is not None and after is not None and after >= before and merge:
        model.load_state_dict(zero_shot_weights)
        kept = "zero-shot"
        log.warning(
            "fine-tuning did not lower the validation loss (%.4f -> %.4f): kept zero-shot weights", before, after
        )
    model.eval()
    if params.save_checkpoint_path and merge and isinstance(model, TinyTFM):
        save_tiny_tfm(model, Path(params.save_checkpoint_path) / "tuned.pt", card={"fine_tuned": kept == "tuned"})
    return FineTuneResult(
        train=result,
        config=config.to_dict(),
        val_loss_zero_shot=before,
        val_loss_tuned=after,
        kept=kept,
        plan=plan_rows,
    )


def _val_loss(trainer: Trainer, val: EpisodeBatches | None) -> float | None:
    return None if val is None else trainer.evaluate(val)["val_loss"]
