"""Pretrain :class:`~tightfit.tabular.models.tiny.TinyTFM` on synthetic tables, with tightfit's own engine.

    python -m tightfit.tabular.pretrain --minutes 30 --out runs/tiny_tfm [--task regression] [--seed 0]
        [--max-features 10] [--max-cells N] [--min-rows 80] [--zero-inflated 0] [--features-per-token 1]
        [--init tiny_tfm]
        [--resume] [--quiet]

Tables come from TabICL's prior (:class:`~tightfit.tabular.prior.PriorBatches`), generated in a DataLoader
worker while the engine trains (bf16 autocast where the CPU or GPU supports it, AdamW, linear warm-up then
cosine decay, gradient clipping, checkpoints every ``--checkpoint-every`` steps, a time budget). With
``--minutes`` the number of steps is set from the measured throughput of a short timing run, so the cosine
schedule ends when the time does; the steps are recorded, and ``--steps N`` reproduces a run exactly.
``--init`` starts from another checkpoint's weights (a shipped name or a path) with a fresh schedule — a
table-size curriculum: narrow tables first, then wide ones; the card adds the earlier run's minutes and steps.

Writes into ``--out``: ``tiny_tfm.pt`` + ``tiny_tfm.json`` (the model card), ``run.json``, ``history.csv``
(validation loss on fixed held-out prior batches after every epoch) and ``checkpoints/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from tightfit.budget import Budget
from tightfit.errors import bad_param
from tightfit.hardware import Hardware
from tightfit.measure import stopwatch
from tightfit.params import Interval, check
from tightfit.tabular.models.tiny import TASKS, TinyTFM, TinyTFMConfig, regroup, save_tiny_tfm, task_loss
from tightfit.tabular.prior import PRIOR_TYPES, PriorSettings, prior_batches
from tightfit.train import TrainConfig, Trainer

__all__ = ["pretrain"]

_PRIOR_SOURCE = {True: "tightfit.tabular.synthetic", False: "tabicl.prior.PriorDataset"}
STEPS_PER_EPOCH = 100  # a validation per epoch; the generator worker restarts each epoch (a few seconds)
VAL_BATCHES = 2
PROBE_STEPS = 16


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # the generator's process must not fight the trainer for the cores


def _loader(dataset, workers: int) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=None,
        num_workers=workers,
        worker_init_fn=_worker_init if workers else None,
        prefetch_factor=4 if workers else None,
    )


def _workers(settings: PriorSettings) -> int:
    """TabICL's SCMs take about a second per batch: one worker generates while the engine trains. Ours take
    milliseconds, and a worker would only compete for the cores."""
    return 0 if settings.prior_type == "synthetic" else 1


def _precision(hw) -> str:
    """bf16 where the GPU or the CPU runs it natively; fp16 (with the engine's loss scaling) on a GPU that only
    emulates bf16 (``torch.cuda.is_bf16_supported()`` counts emulation: a T4 would train several times slower);
    fp32 on other CPUs."""
    device = "cuda" if hw.cuda else "cpu"
    return "bf16" if hw.native_bf16(device) else "fp16" if hw.cuda else "fp32"


def _measured_step_seconds(settings: PriorSettings, architecture: TinyTFMConfig, config: TrainConfig) -> float:
    """Wall seconds per optimizer step on a throwaway model, with the generator worker running beside it as in
    the real run: after a warm-up run, a run of 16 steps less a run of 1, over 15 (what a step costs between
    set-up and result, loading included). The mean, not the median: a step's cost follows its tables' sizes;
    the median of 8 steps ranged 0.95-1.36 s over three draws here, where the real run averaged 1.5 s and its
    time budget cut the cosine schedule at 80%."""

    def wall(steps: int) -> float:
        probe = dataclasses.replace(config, max_steps=steps, epochs=1, verbose=False, checkpoint_dir=None,
                                    warmup=0.0)  # fmt: skip
        trainer = Trainer(TinyTFM(architecture), task_loss(architecture.task), probe)
        _, seconds = stopwatch(trainer.fit, _loader(prior_batches(settings, steps, seed=10**6), _workers(settings)))
        return seconds

    wall(1)  # imports and first-call set-up happen once per process: not a step's cost
    return max(wall(PROBE_STEPS) - wall(1), 1e-6) / (PROBE_STEPS - 1)


def pretrain(
    out: str | Path,
    minutes: float | None = 60.0,
    steps: int | None = None,
    seed: int = 0,
    architecture: TinyTFMConfig | None = None,
    settings: PriorSettings | None = None,
    lr: float = 2e-3,
    resume: bool = False,
    checkpoint_every: int = 50,
    verbose: bool = True,
    init: str | Path | None = None,
    regroup_to: int | None = None,
) -> dict[str, Any]:
    """Pretrain a TinyTFM into ``out``; give ``minutes`` (steps from measured throughput) or ``steps``.
    ``init``: start from that checkpoint's weights (its architecture is used; ``architecture`` must be None);
    ``regroup_to``: with ``init``, pack that many cells per token (:func:`~tightfit.tabular.models.tiny.regroup`).

    Returns the model card (also written to ``out/tiny_tfm.json``).
    """
    if steps is None and minutes is None:
        raise bad_param("minutes", "pretrain", "a number of minutes > 0 when steps is not given", minutes)
    check(
        "pretrain", minutes=(minutes, None, Interval(float, 0, closed="right")), steps=(steps, None, Interval(int, 1))
    )
    out = Path(out)
    start, earlier = _initial_model(init, architecture)
    if regroup_to is not None:
        if start is None:
            raise bad_param("regroup_to", "pretrain", "None without init (set architecture.features_per_token)",
                            regroup_to)  # fmt: skip
        start = regroup(start, regroup_to)
    architecture = start.config if start is not None else architecture or TinyTFMConfig()
    hardware = Hardware.probe()
    settings = settings or PriorSettings(max_classes=architecture.max_classes, task=architecture.task)
    if settings.task != architecture.task:
        raise bad_param("settings.task", "pretrain", f"the architecture's task {architecture.task!r}", settings.task)
    config = TrainConfig(
        precision=_precision(hardware),
        micro_batch=settings.tables,
        lr=lr,
        weight_decay=0.01,
        schedule="cosine",
        warmup=0.05,
        clip_norm=1.0,
        checkpoint_dir=str(out / "checkpoints"),
        checkpoint_every=checkpoint_every,
        seed=seed,
        verbose=verbose,
    )
    started = time.perf_counter()
    step_seconds = None
    if steps is None:
        step_seconds = _measured_step_seconds(settings, architecture, config)
        budget_s = minutes * 60 - (time.perf_counter() - started)
        steps = max(1, int(0.95 * budget_s / step_seconds))  # 5% for loading, validation and checkpoints
    config = dataclasses.replace(config, max_steps=steps, epochs=math.ceil(steps / STEPS_PER_EPOCH))
    torch.manual_seed(seed)
    model = start if start is not None else TinyTFM(architecture)
    train = _loader(prior_batches(settings, STEPS_PER_EPOCH, seed=seed), workers=_workers(settings))
    val = _loader(prior_batches(settings, VAL_BATCHES, seed=seed + 7919), workers=0)
    budget = Budget(time=minutes * 60 - (time.perf_counter() - started)) if minutes is not None else None
    result = Trainer(model, task_loss(architecture.task), config).fit(train, val_data=val, budget=budget, resume=resume)
    result.save_run(out)
    from tightfit.runinfo import environment_info

    card = {
        "name": "tightfit TinyTFM",
        "task": f"in-context classification, up to {architecture.max_classes} classes"
        if architecture.task == "classification"
        else f"in-context regression, a distribution over {architecture.n_bins} bins",
        "seed": seed,
        "steps": result.steps,
        "tables_seen": result.steps * settings.tables,
        "pretrain_minutes": (time.perf_counter() - started) / 60,
        "init": earlier,
        "total_steps": result.steps + (earlier["total_steps"] if earlier else 0),
        "total_pretrain_minutes": (time.perf_counter() - started) / 60
        + (earlier["total_pretrain_minutes"] if earlier else 0.0),
        "measured_step_seconds": step_seconds,
        "stopped_by": result.stopped_by,
        "final_val_loss": result.history[-1].get("val_loss") if result.history else None,
        "loss_curve": [{k: row.get(k) for k in ("step", "train_loss", "val_loss")} for row in result.history],
        "tables_per_second": result.steps * settings.tables / max(result.wall_time_s, 1e-9),
        "prior": settings.to_dict()
        | {
            "source": "tightfit.tabular.synthetic"
            if settings.prior_type == "synthetic"
            else "tabicl.prior.PriorDataset"
        },
        "train_config": {k: v for k, v in config.to_dict().items() if k != "checkpoint_dir"},
        "machine": hardware.summary(),
        "environment": environment_info(),
    }
    path = save_tiny_tfm(model, out / "tiny_tfm.pt", card)
    return json.loads(path.with_suffix(".json").read_text())  # as written: architecture and parameters added


def _initial_model(init: str | Path | None, architecture: TinyTFMConfig | None) -> tuple[TinyTFM | None, dict | None]:
    """The warm-start model and what its card says of its own pretraining (steps and minutes, summed over
    any earlier warm starts), or (None, None)."""
    if init is None:
        return None, None
    if architecture is not None:
        raise bad_param("architecture", "pretrain", "None when init is given (the checkpoint's is used)", architecture)
    from tightfit.tabular.in_context import weights_path
    from tightfit.tabular.models.tiny import load_tiny_tfm

    path = weights_path(init, "tiny_tfm.pt")
    model = load_tiny_tfm(path).train()
    card_path = path.with_suffix(".json")
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    steps = card.get("total_steps", card.get("steps", 0))
    minutes = card.get("total_pretrain_minutes", card.get("pretrain_minutes", 0.0))
    return model, {"weights": str(init), "total_steps": steps, "total_pretrain_minutes": minutes}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tightfit.tabular.pretrain", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--minutes", type=float, default=60.0, help="wall-time budget (default 60)")
    parser.add_argument("--steps", type=int, default=None, help="exact optimizer steps (overrides --minutes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--prior", choices=PRIOR_TYPES, default="synthetic", help="table generator")
    parser.add_argument("--task", choices=TASKS, default="classification")
    parser.add_argument("--max-features", type=int, default=10, help="widest table the prior draws (default 10)")
    parser.add_argument("--max-cells", type=int, default=None, help="rows x (features + 1) cap: wide tables get "
                        "fewer rows, widths drawn log-uniformly")  # fmt: skip
    parser.add_argument("--min-rows", type=int, default=80, help="fewest rows a table has (wide tables with "
                        "--max-cells are cut to it)")  # fmt: skip
    parser.add_argument("--zero-inflated", type=float, default=0.0, help="share of columns that hold zero on "
                        "many rows (default 0: v1's tables)")  # fmt: skip
    parser.add_argument("--features-per-token", type=int, default=None, help="cells per token: grouping makes wide "
                        "tables cheaper (default 1; with --init, the checkpoint is regrouped)")  # fmt: skip
    parser.add_argument("--init", default=None, help="start from this checkpoint (a shipped name or a path)")
    parser.add_argument("--resume", action="store_true", help="continue from out/checkpoints")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    card = pretrain(
        args.out,
        minutes=None if args.steps else args.minutes,
        steps=args.steps,
        seed=args.seed,
        lr=args.lr,
        architecture=None
        if args.init
        else TinyTFMConfig(task=args.task, features_per_token=args.features_per_token or 1),
        settings=PriorSettings(
            prior_type=args.prior,
            task=args.task,
            max_features=args.max_features,
            max_cells=args.max_cells,
            min_rows=args.min_rows,
            zero_inflated=args.zero_inflated,
        ),
        resume=args.resume,
        init=args.init,
        regroup_to=args.features_per_token if args.init else None,
        verbose=not args.quiet,
    )
    print(
        f"{card['steps']} steps ({card['tables_seen']} tables) in {card['pretrain_minutes']:.1f} min; "
        f"validation loss {card['final_val_loss']}; wrote {Path(args.out) / 'tiny_tfm.pt'}"
    )


if __name__ == "__main__":
    main()
