"""`TrainResult`: what a training run did and measured, with ``save_run(dir)`` -> run.json + history.csv."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tightfit.files import atomic_write_text

__all__ = ["TrainResult"]

RUN_FORMAT_VERSION = 1


@dataclass
class TrainResult:
    """Measured outcome of :meth:`Trainer.fit`; bytes and seconds throughout.

    ``config`` is the configuration the run ended with (after any OOM back-off); ``initial_config`` the
    one it was asked to use. ``stopped_by`` is ``"epochs"``, ``"max_steps"``, ``"early_stopping"`` or
    ``"time"``. ``peak_memory_bytes`` is the budgeted peak (CUDA allocated on a GPU, process RSS on the CPU).
    """

    config: Any
    initial_config: Any
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    best_metric: float | None = None
    wall_time_s: float = 0.0
    peak_memory_bytes: int = 0
    steps: int = 0
    effective_batch: int = 0
    oom_events: list[dict[str, Any]] = field(default_factory=list)
    nan_skipped_steps: int = 0
    stopped_by: str = "epochs"
    trainable_params: int = 0
    total_params: int = 0
    optimizer_state_bytes: int = 0
    step_time_s: float = 0.0  # median seconds per optimizer step
    device: str = "cpu"
    budget: Any = None
    seed: int = 0
    rank: int = 0  # this process's rank in a data-parallel run
    world_size: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": RUN_FORMAT_VERSION,
            "config": self.config.to_dict(),
            "initial_config": self.initial_config.to_dict(),
            "budget": None if self.budget is None else self.budget.to_dict(),
            "seed": self.seed,
            "device": self.device,
            "world_size": self.world_size,
            "history": self.history,
            "best_epoch": self.best_epoch,
            "best_metric": self.best_metric,
            "wall_time_s": self.wall_time_s,
            "peak_memory_bytes": self.peak_memory_bytes,
            "steps": self.steps,
            "effective_batch": self.effective_batch,
            "oom_events": self.oom_events,
            "nan_skipped_steps": self.nan_skipped_steps,
            "stopped_by": self.stopped_by,
            "trainable_params": self.trainable_params,
            "total_params": self.total_params,
            "optimizer_state_bytes": self.optimizer_state_bytes,
            "step_time_s": self.step_time_s,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    def save_run(self, directory: str | Path) -> Path:
        """Write ``run.json`` (config, budget, hardware, library versions, git commit, seed, metrics) and
        ``history.csv`` into ``directory``, atomically; return the folder. In a data-parallel run only rank 0
        writes (every rank holds the same result)."""
        from tightfit.hardware import Hardware
        from tightfit.runinfo import environment_info

        folder = Path(directory)
        if self.rank != 0:
            return folder
        run = self.to_dict()
        run["hardware"] = Hardware.probe().to_dict()
        run["environment"] = environment_info()
        atomic_write_text(folder / "run.json", json.dumps(run, indent=2, default=str))
        columns = sorted({key for row in self.history for key in row}, key=lambda k: (k != "epoch", k))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns)
        writer.writeheader()
        writer.writerows(self.history)
        atomic_write_text(folder / "history.csv", buffer.getvalue())
        return folder
