"""`Trainer`: one engine that trains any ``nn.Module`` with the techniques of a ``TrainConfig``.

    result = Trainer(model, loss_fn, TrainConfig(precision="bf16", micro_batch=8, accumulation=4)).fit(
        (X, y), val_data=(X_val, y_val), budget=Budget(time="10min"))

The step reads top to bottom — split into micro-batches, forward under autocast, scaled backward,
unscale, clip, step, zero — and techniques are objects or model transforms applied before the loop
(``Precision``, ``apply_lora_``, ``apply_checkpointing_``), not flags inside it. Around the step sit the
guards: out-of-memory back-off (halve ``micro_batch``, double ``accumulation``, retry the same step), the
non-finite-loss guard, the time budget, early stopping and atomic checkpoints.

Launched by ``torchrun`` or ``accelerate launch`` (or with ``TrainConfig(shard="ddp")``) the same ``fit``
trains data-parallel: the model is wrapped in ``DistributedDataParallel``, each rank takes its share of every
global batch (``micro_batch`` rows per rank and micro-step), and every decision — out of memory, out of time,
a non-finite loss, early stopping — is taken from figures summed over the ranks, so all ranks take it at the
same step. Only rank 0 writes checkpoints and shows progress. See :mod:`tightfit.train.distributed`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import itertools
import logging
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from tightfit.budget import Budget
from tightfit.errors import BudgetExceeded, ConfigError, TrainingDiverged, bad_param, is_out_of_memory
from tightfit.measure.memory import MemoryMonitor
from tightfit.progress import StepProgress
from tightfit.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from tightfit.train.config import TrainConfig
from tightfit.train.data import StepBatches, as_dataset, chunk_batch, move_batch, n_rows
from tightfit.train.distributed import (
    World,
    agree_any,
    all_sum,
    average_buffers,
    average_gradients,
    barrier,
    full_state,
    gather_objects,
    join_process_group,
    load_full_state,
    sync_context,
    wrap_model,
)
from tightfit.train.optim import build_optimizer, lr_at, optimizer_state_bytes
from tightfit.train.precision import Precision
from tightfit.train.result import TrainResult
from tightfit.train.techniques import apply_checkpointing_, apply_lora_
from tightfit.train.techniques.allocator import release_freed_memory

__all__ = ["Trainer", "default_loss"]

log = logging.getLogger(__name__)
_TIME_SAFETY = 1.25  # predicted step time is padded by this factor before comparing with the time left
_FINISH_S = 0.02  # held back for the end of a run: the memory monitor's last sample, the progress bar, the result


def default_loss(output: Any, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy for integer targets, mean squared error otherwise. An output that is not a tensor is read
    for its logits: a Hugging Face ``ModelOutput``'s ``logits``, else a tuple's first element."""
    if not isinstance(output, torch.Tensor):
        logits = getattr(output, "logits", None)
        output = logits if logits is not None else output[0] if isinstance(output, (tuple, list)) else output
    if not target.is_floating_point():
        return nn.functional.cross_entropy(output, target)
    return nn.functional.mse_loss(output.reshape(target.shape), target)


def _batch_count(data: Any, micro_batch: int) -> int:
    """Batches one validation pass over ``data`` runs (0 when its length is unknown, as a stream's is)."""
    if isinstance(data, torch.utils.data.DataLoader):
        return len(data)
    try:
        return math.ceil(len(data) / micro_batch)
    except TypeError:
        return 0


def _split(batch: Any) -> tuple[tuple, dict, Any]:
    """(positional inputs, keyword inputs, target) of a batch: ``(x..., y)`` or a dict with ``labels``/``y``."""
    if isinstance(batch, dict):
        inputs = dict(batch)
        for key in ("labels", "label", "y", "target"):
            if key in inputs:
                return (), inputs, inputs.pop(key)
        raise ConfigError(f"a dict batch needs a 'labels' (or 'y'/'target') entry; it has {sorted(batch)}.")
    if isinstance(batch, (list, tuple)) and len(batch) >= 2:
        return tuple(batch[:-1]), {}, batch[-1]
    raise ConfigError("a batch must be (inputs..., target) or a dict with 'labels'; got " + type(batch).__name__)


class _StepOutOfMemory(Exception):
    """A micro-step ran out of memory on this rank or another (the ranks agreed on it)."""


@dataclasses.dataclass
class _LoopState:
    """Where the loop is; saved in checkpoints so a resumed run continues exactly."""

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    lr_factor: float = 1.0  # lowered by the non-finite-loss guard
    bad_steps: int = 0
    nan_skipped: int = 0
    epoch_losses: list[float] = dataclasses.field(default_factory=list)
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    best_metric: float | None = None
    best_epoch: int | None = None
    stale_epochs: int = 0


class Trainer:
    """Train ``model`` with ``loss_fn`` (``None``: :func:`default_loss`) under ``config``.

    Techniques (LoRA, checkpointing) are applied to ``model`` in place on the first :meth:`fit`.
    """

    def __init__(self, model: nn.Module, loss_fn: Callable | None = None, config: TrainConfig | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise bad_param("model", "Trainer", "a torch.nn.Module", type(model).__name__)
        if loss_fn is not None and not callable(loss_fn):
            raise bad_param("loss_fn", "Trainer", "None or a callable (output, target) -> loss", loss_fn)
        config = TrainConfig() if config is None else config
        if not isinstance(config, TrainConfig):
            raise bad_param("config", "Trainer", "a TrainConfig", type(config).__name__)
        self.model = model
        self.loss_fn = loss_fn or default_loss
        self.config = config
        self._applied: dict[str, Any] | None = None
        self.device: torch.device | None = None  # set by fit; evaluate before fit uses the model's device
        self.device_override: torch.device | None = None  # the planner's fake runs pick the device themselves
        # the planner's fake runs: micro-steps after the second repeat its memory exactly (equal chunks, gradients
        # already allocated), so they are skipped; None runs them all
        self.max_micro_steps: int | None = None
        self.precision: Precision | None = None
        self.current = config  # the config in force: fit replaces it on an out-of-memory back-off
        self.world = World()
        self.net: nn.Module = model  # what the step calls: the model, or its DistributedDataParallel wrapper

    # -- set-up ------------------------------------------------------------------------------------------
    def apply_techniques(self) -> dict[str, Any]:
        """Apply the config's model transforms (LoRA, checkpointing) now; idempotent, and ``fit`` calls it."""
        if self._applied is None:
            applied: dict[str, Any] = {}
            if self.config.lora is not None:
                applied["lora"] = apply_lora_(self.model, self.config.lora)
            if self.config.checkpointing:
                blocks = None if self.config.checkpointing is True else self.config.checkpointing
                applied["checkpointing"] = apply_checkpointing_(self.model, blocks)
            self._applied = applied
        return self._applied

    # -- the step ----------------------------------------------------------------------------------------
    def _forward_loss(self, chunk: Any) -> torch.Tensor:
        args, kwargs, target = _split(move_batch(chunk, self.device))
        with self.precision.autocast():
            output = self.net(*args, **kwargs)
            return self.loss_fn(output, target)

    def _accumulate(self, step_batch: Any, micro_batch: int) -> float:
        """Forward and backward of ``step_batch`` in micro-batches; returns the mean loss of its rows.
        Under DDP no micro-step synchronises (see :mod:`tightfit.train.distributed`)."""
        total_rows = n_rows(step_batch)
        loss_sum = torch.zeros((), device=self.device)
        chunks = chunk_batch(step_batch, micro_batch)[: self.max_micro_steps]
        for i, chunk in enumerate(chunks):
            weight = n_rows(chunk) / total_rows  # each chunk's mean loss, weighted to the whole batch's mean
            with sync_context(self.net, self.world, self.config.shard, last=i == len(chunks) - 1):
                loss = self._forward_loss(chunk) * weight
                self.precision.scaler.scale(loss).backward()
            loss_sum += loss.detach().float()
        return float(loss_sum)

    def _step(self, step_batch: Any, micro_batch: int) -> float:
        """One optimizer step over ``step_batch``, cut into micro-batches; returns the mean loss (over every
        rank's rows). Raises ``_StepOutOfMemory`` when any rank ran out of memory."""
        rows = n_rows(step_batch)
        failure = None
        try:
            mean_loss = self._accumulate(step_batch, micro_batch) if rows else 0.0
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            failure, mean_loss = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}", 0.0
            if self.config.shard == "fsdp":  # the other ranks wait in a collective of this step: no agreement
                hint = "lower micro_batch, or add checkpointing=True"
                raise self._memory_exceeded(f"under FSDP ({failure})", hint) from None
        if self.world.distributed:  # one all-reduce agrees the outcome and sums the loss over ranks
            failed, loss_rows, all_rows = all_sum([failure is not None, mean_loss * rows, rows], self.world)
            if failed:
                raise _StepOutOfMemory(failure or "out of memory on another rank")
            mean_loss = loss_rows / all_rows
            if self.config.shard != "fsdp":  # FSDP reduce-scattered its gradient shards in the last micro-step
                average_gradients(self.trainable, self.world, weight=rows, total=all_rows)
            rows = int(all_rows)
        elif failure is not None:
            raise _StepOutOfMemory(failure)
        self._rows_per_step = max(self._rows_per_step, rows)
        if not math.isfinite(mean_loss):
            self.optimizer.zero_grad(set_to_none=True)
            return mean_loss
        self.precision.scaler.unscale_(self.optimizer)
        if self.config.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.trainable, self.config.clip_norm)
        self.precision.scaler.step(self.optimizer)
        self.precision.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        average_buffers(self.model, self.world)
        return mean_loss

    def _step_with_backoff(self, step_batch: Any, state: _LoopState) -> float:
        """Run the step; on out-of-memory halve micro_batch and double accumulation, free memory, retry."""
        while True:
            failure = None
            try:
                return self._step(step_batch, self.current.micro_batch)
            except _StepOutOfMemory as exc:
                failure = str(exc)
            # out of the except block, so the traceback (and the tensors its frames hold) is gone
            self.optimizer.zero_grad(set_to_none=True)
            gc.collect()
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            old = self.current
            if old.micro_batch == 1:
                raise self._memory_exceeded(
                    f"at micro_batch=1 ({failure})",
                    "try precision='bf16', checkpointing=True, lora=LoraSpec(r=8) or optimizer='adafactor'",
                )
            self.current = dataclasses.replace(old, micro_batch=old.micro_batch // 2, accumulation=old.accumulation * 2)
            event = {
                "step": state.global_step,
                "from_micro_batch": old.micro_batch,
                "to_micro_batch": self.current.micro_batch,
                "accumulation": self.current.accumulation,
                "error": failure,
            }
            self.oom_events.append(event)
            log.warning(
                "out of memory at step %d: micro_batch %d -> %d, accumulation %d -> %d",
                state.global_step,
                old.micro_batch,
                self.current.micro_batch,
                old.accumulation,
                self.current.accumulation,
            )

    def _memory_exceeded(self, where: str, hint: str) -> BudgetExceeded:
        return BudgetExceeded("memory", self.budget.memory or 0, None, detail=f"out of memory {where}", hint=hint)

    # -- evaluation --------------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, data: Any) -> dict[str, float]:
        """Mean loss (and accuracy for integer tensor targets) of the model over ``data``, in eval mode; a
        structured target (a tuple, as distillation's (teacher output, label)) gets the loss alone."""
        dataset = as_dataset(data, "val_data")
        if self.device is None:
            self.device = next(self.model.parameters()).device
            self.precision = Precision(self.config.precision, self.device)
        was_training = self.model.training
        self.model.eval()
        # after an OOM back-off, the smaller micro-batch
        batches = StepBatches(dataset, self.current.micro_batch, 1, 0, self.world.rank, self.world.size).ordered()
        loss_sum, correct, rows, classification = 0.0, 0, 0, True
        try:
            for batch in batches:
                args, kwargs, target = _split(move_batch(batch, self.device))
                count = n_rows(target)
                if not count:  # a rank's share of a last, short batch
                    continue
                with self.precision.autocast():
                    output = self.model(*args, **kwargs)
                    loss = self.loss_fn(output, target)
                loss_sum += float(loss) * count
                rows += count
                if not torch.is_tensor(target) or target.is_floating_point() or output.dim() != 2:
                    classification = False
                else:
                    correct += int((output.argmax(dim=1) == target).sum())
        finally:
            self.model.train(was_training)
        if self.world.distributed:  # every rank evaluated its share: the metric is over all of them
            loss_sum, correct, rows, regression = all_sum([loss_sum, correct, rows, not classification], self.world)
            classification = not regression
        metrics = {"val_loss": loss_sum / max(rows, 1)}
        if classification:
            metrics["val_accuracy"] = correct / max(rows, 1)
        return metrics

    # -- the loop ----------------------------------------------------------------------------------------
    def fit(
        self, train_data: Any, val_data: Any = None, budget: Budget | None = None, resume: bool = False
    ) -> TrainResult:
        """Train and return a :class:`TrainResult`.

        Parameters
        ----------
        train_data, val_data : Dataset, DataLoader or (X, y)
            Arrays are taken as ``(X, y)``; float64 becomes float32.
        budget : Budget, default=None
            ``device`` picks the device; ``time`` stops the run cleanly before it runs out (predicted from
            the measured step time); ``memory`` caps the CUDA allocator on a GPU, so the OOM back-off
            engages at the budget (on the CPU, enforce memory with ``tightfit.guard.run_limited``).
        resume : bool, default=False
            Continue from the checkpoint in ``config.checkpoint_dir`` exactly where it stopped.
        """
        cfg = self.config
        self.budget = Budget() if budget is None else budget
        if not isinstance(self.budget, Budget):
            raise bad_param("budget", "Trainer.fit", "None or a Budget", type(budget).__name__)
        if resume and cfg.checkpoint_dir is None:
            raise ConfigError("fit(resume=True) needs TrainConfig(checkpoint_dir=...) to know where to resume from.")
        if cfg.early_stopping is not None and cfg.early_stopping.metric.startswith("val") and val_data is None:
            raise ConfigError(f"early_stopping on {cfg.early_stopping.metric!r} needs val_data.")
        self.device = self.device_override or torch.device(self.budget.resolve_device())
        self.world = join_process_group(self.device.type, cfg.shard)
        self.device = self.world.device if self.world.distributed else self.device
        self.precision = Precision(cfg.precision, self.device)
        dataset = as_dataset(train_data)
        val = as_dataset(val_data, "val_data") if val_data is not None else None

        self._started = time.perf_counter()
        torch.manual_seed(cfg.seed)
        if any(t.device != self.device for t in itertools.chain(self.model.parameters(), self.model.buffers())):
            self.model.to(self.device)
        self.apply_techniques()
        self.net = wrap_model(self.model, self.world, cfg.shard)
        if self.world.distributed:
            torch.manual_seed(cfg.seed + self.world.rank)  # same initial weights, different dropout per rank
        if cfg.release_memory and self.device.type == "cpu":
            release_freed_memory()
        self.model.train()
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        if not self.trainable:
            raise ConfigError("the model has no parameter that requires grad; nothing to train.")
        self.optimizer = build_optimizer(self.trainable, cfg)
        self.current = cfg
        self.oom_events = []
        self._step_times: list[float] = []
        self._rows_per_step = 0
        self._val_seconds = 0.0
        self._val_batches = _batch_count(val, cfg.micro_batch) if val is not None else 0
        self._best_weights: dict[str, torch.Tensor] | None = None
        self._restore_s = 0.0  # the last copy of the best weights: loading them back at the end costs as much
        self._save_s = 0.0  # the last checkpoint written: the end of the run writes one more
        world = self.world
        batches = StepBatches(dataset, cfg.effective_batch, cfg.accumulation, cfg.seed, world.rank, world.size)
        self._total_steps = len(batches) * cfg.epochs
        if cfg.max_steps is not None:
            self._total_steps = min(cfg.max_steps, self._total_steps)

        state, epoch_rng, resume_rng = _LoopState(), None, None
        saved = load_checkpoint(cfg.checkpoint_dir) if resume else None
        if saved is not None:
            state, epoch_rng, resume_rng = self._restore(saved)
        stopped_by = None
        with (
            self._memory_cap(),
            MemoryMonitor(interval_ms=50, device=str(self.device)) as monitor,
            StepProgress(self._total_steps, cfg.verbose and self.world.is_main) as progress,
        ):
            for _ in range(state.global_step):
                progress.advance()
            while stopped_by is None and state.epoch < cfg.epochs:
                if resume_rng is not None and state.step_in_epoch:
                    steps = self._resumed_epoch(batches, state, epoch_rng, resume_rng)
                else:
                    if resume_rng is not None:
                        set_rng_state(resume_rng)
                    epoch_rng = rng_state()
                    steps = batches.epoch(state.epoch)
                resume_rng = None
                stopped_by = self._run_epoch(steps, state, epoch_rng, progress)
                if stopped_by == "time" and not state.epoch_losses:
                    break
                if self._end_epoch(state, val) and stopped_by is None:
                    stopped_by = "early_stopping"
            if self._best_weights is not None and cfg.early_stopping is not None:
                self.model.load_state_dict(self._best_weights)
            if cfg.checkpoint_dir:
                self._save(state, None)
            barrier(self.world)
        return self._result(state, stopped_by or "epochs", monitor)

    def _resumed_epoch(self, batches: StepBatches, state: _LoopState, epoch_rng: dict, resume_rng: dict):
        """The rest of an interrupted epoch: its data order comes from the epoch's RNG state, the steps from
        the RNG state at the checkpoint (a DataLoader's sampler draws its seed on the first ``next``)."""
        set_rng_state(epoch_rng)
        steps = batches.epoch(state.epoch, skip=state.step_in_epoch)
        first = next(steps, None)
        set_rng_state(resume_rng)
        return steps if first is None else itertools.chain([first], steps)

    def _run_epoch(self, steps, state: _LoopState, epoch_rng: dict, progress: StepProgress) -> str | None:
        cfg = self.config
        for step_batch in steps:
            if state.global_step >= self._total_steps:
                return "max_steps"
            # the slowest recent step, the checkpoint it may write and the validation that closes the epoch must fit
            saving = cfg.checkpoint_dir and (state.global_step + 1) % cfg.checkpoint_every == 0
            step_s = max(self._step_times[-5:], default=0.0) + (self._save_s if saving else 0.0)
            if self._out_of_time(step_s + self._expected_val_s()):
                return "time"
            t0 = time.perf_counter()
            for group in self.optimizer.param_groups:
                group["lr"] = lr_at(state.global_step, cfg, self._total_steps) * state.lr_factor
            loss = self._step_with_backoff(step_batch, state)
            self._guard_finite(loss, state)
            self._step_times.append(time.perf_counter() - t0)
            state.global_step += 1
            state.step_in_epoch += 1
            progress.advance(1 / statistics.median(self._step_times[-20:]), loss=loss, epoch=state.epoch + 1)
            if cfg.checkpoint_dir and state.global_step % cfg.checkpoint_every == 0:
                self._save(state, epoch_rng)
        if state.global_step >= self._total_steps and cfg.max_steps is not None:
            return "max_steps"
        return None

    def _end_epoch(self, state: _LoopState, val) -> bool:
        """Validate, log the epoch, track the best; True when early stopping says stop."""
        metrics: dict[str, float] = {}
        if val is not None and not self._out_of_time(self._expected_val_s()):
            t0 = time.perf_counter()
            metrics = self.evaluate(val)
            self._val_seconds = time.perf_counter() - t0
        finite = [x for x in state.epoch_losses if math.isfinite(x)]
        row = {
            "epoch": state.epoch + 1,
            "step": state.global_step,
            "train_loss": statistics.fmean(finite) if finite else float("nan"),
            **metrics,
            "lr": self.optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - self._started,
        }
        state.history.append(row)
        state.epoch += 1
        state.step_in_epoch = 0
        state.epoch_losses = []
        return self._track_best(row, state)

    def _track_best(self, row: dict[str, Any], state: _LoopState) -> bool:
        rule = self.config.early_stopping
        metric = rule.metric if rule is not None else "val_loss"
        value = row.get(metric)
        if value is None or not math.isfinite(value):
            return False
        maximize = rule.maximize if rule is not None else False
        min_delta = rule.min_delta if rule is not None else 0.0
        better = state.best_metric is None or (
            value > state.best_metric + min_delta if maximize else value < state.best_metric - min_delta
        )
        if better:
            state.best_metric, state.best_epoch, state.stale_epochs = value, row["epoch"], 0
            if rule is not None:
                t0 = time.perf_counter()
                self._best_weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
                self._restore_s = time.perf_counter() - t0
            return False
        state.stale_epochs += 1
        return rule is not None and state.stale_epochs >= rule.patience

    # -- guards ------------------------------------------------------------------------------------------
    def _expected_val_s(self) -> float:
        """Seconds a validation pass takes: measured once one ran; before that, each validation batch is
        priced as a training micro-step (forward and backward: an upper bound for a forward pass)."""
        if self._val_seconds or not self._step_times:
            return self._val_seconds
        return self._val_batches * statistics.median(self._step_times) / self.current.accumulation

    def _out_of_time(self, next_work_s: float) -> bool:
        """Would ``next_work_s`` more seconds, and then ending the run, overrun the time budget? Ending is held
        back too: restoring the best weights and writing the last checkpoint, priced by the last time each was
        done (padded like the work), and a fixed allowance (a run that stopped itself on time overran by 1 ms
        without it)."""
        if self.budget.time is None:
            return False
        elapsed = time.perf_counter() - self._started
        ending = (self._restore_s if self.config.early_stopping is not None else 0.0) + (
            self._save_s if self.config.checkpoint_dir else 0.0
        )
        return agree_any(elapsed + (next_work_s + ending) * _TIME_SAFETY + _FINISH_S > self.budget.time, self.world)

    def _guard_finite(self, loss: float, state: _LoopState) -> None:
        """A non-finite loss skipped its update; halve the LR and give up after ``max_bad_steps`` in a row."""
        if math.isfinite(loss):
            state.bad_steps = 0
            state.epoch_losses.append(loss)
            return
        state.bad_steps += 1
        state.nan_skipped += 1
        state.lr_factor *= 0.5
        log.warning("non-finite loss at step %d: update skipped, learning rate halved", state.global_step)
        if state.bad_steps >= self.config.max_bad_steps:
            raise TrainingDiverged(
                f"the loss was non-finite for {state.bad_steps} consecutive steps (up to step {state.global_step}), "
                f"even with the learning rate lowered to {self.config.lr * state.lr_factor:.3g}; check the data "
                "for NaN/inf, lower lr, or use precision='fp32'."
            )

    @contextlib.contextmanager
    def _memory_cap(self):
        """On CUDA, cap the caching allocator at ``budget.memory`` for the run, then restore it."""
        if self.device.type != "cuda" or self.budget.memory is None:
            yield
            return
        index = self.device.index if self.device.index is not None else torch.cuda.current_device()
        total = torch.cuda.get_device_properties(index).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, self.budget.memory / total), index)
        try:
            yield
        finally:
            torch.cuda.set_per_process_memory_fraction(1.0, index)

    # -- checkpoints and the result ----------------------------------------------------------------------
    def _save(self, state: _LoopState, epoch_rng: dict | None) -> None:
        """Rank 0 writes the checkpoint (with every rank's RNG state: dropout differs per rank)."""
        t0 = time.perf_counter()
        try:
            self._write_checkpoint(state, epoch_rng)
        finally:
            self._save_s = time.perf_counter() - t0

    def _write_checkpoint(self, state: _LoopState, epoch_rng: dict | None) -> None:
        rngs = gather_objects(rng_state(), self.world)
        model_state, optimizer_state = full_state(self.model, self.optimizer, self.config.shard)
        if not self.world.is_main:
            return
        save_checkpoint(
            self.config.checkpoint_dir,
            {
                "model": model_state,
                "optimizer": optimizer_state,
                "scaler": self.precision.scaler.state_dict(),
                "loop": dataclasses.asdict(state),
                "config": self.current.to_dict(),
                "oom_events": self.oom_events,
                "best_weights": self._best_weights,
                "rng": rngs[0],
                "rank_rngs": rngs[1:],
                "epoch_rng": epoch_rng,
            },
        )

    def _restore(self, saved: dict[str, Any]) -> tuple[_LoopState, dict | None, dict]:
        load_full_state(self.model, self.optimizer, self.config.shard, saved["model"], saved["optimizer"])
        self.precision.scaler.load_state_dict(saved["scaler"])
        self.current = TrainConfig.from_dict({**saved["config"], "verbose": self.config.verbose})
        self.oom_events = list(saved["oom_events"])
        self._best_weights = saved["best_weights"]
        ranks = [saved["rng"], *saved.get("rank_rngs", [])]
        own = ranks[self.world.rank] if self.world.rank < len(ranks) else ranks[0]
        return _LoopState(**saved["loop"]), saved["epoch_rng"], own

    def _result(self, state: _LoopState, stopped_by: str, monitor: MemoryMonitor) -> TrainResult:
        return TrainResult(
            config=self.current,
            initial_config=self.config,
            history=state.history,
            best_epoch=state.best_epoch,
            best_metric=state.best_metric,
            wall_time_s=time.perf_counter() - self._started,
            peak_memory_bytes=monitor.peak,
            steps=state.global_step,
            effective_batch=self._rows_per_step or self.current.effective_batch,
            oom_events=self.oom_events,
            nan_skipped_steps=state.nan_skipped,
            stopped_by=stopped_by,
            trainable_params=sum(p.numel() for p in self.trainable),
            total_params=sum(p.numel() for p in self.model.parameters()),
            optimizer_state_bytes=optimizer_state_bytes(self.optimizer),
            step_time_s=statistics.median(self._step_times) if self._step_times else 0.0,
            device=str(self.device),
            budget=self.budget,
            seed=self.config.seed,
            rank=self.world.rank,
            world_size=self.world.size,
        )
