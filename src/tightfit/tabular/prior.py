"""Synthetic classification tables for pretraining, from TabICL's structural-causal prior.

:class:`PriorBatches` is a map-style dataset whose item ``i`` is a whole batch of tables, generated from
``(seed, epoch, i)`` alone: a run is reproducible from its seed, every epoch draws fresh tables (the engine
calls ``set_epoch``), and a resumed run regenerates exactly the batches it had not yet seen. Use it with
``DataLoader(batch_size=None)``; the engine's micro-batching then cuts a batch into groups of tables.

Needs the ``pretrain`` extra (``tabicl``, which generates tree-based SCMs with xgboost).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from tightfit.errors import ConfigError, bad_param
from tightfit.params import Interval, Options, check
from tightfit.tabular.models.tiny import TASKS, standardise_target

__all__ = ["PRIOR_TYPES", "PriorBatches", "PriorSettings", "TableBatches", "prior_batches"]

PRIOR_TYPES = ("synthetic", "mlp_scm", "tree_scm", "mix_scm")  # ours (tightfit.tabular.synthetic), then TabICL's


@dataclass(frozen=True)
class PriorSettings:
    """What the prior draws: tables per batch, rows (context + query), features, the task (classes up to
    ``max_classes``, or a continuous target), and the generator: ``"synthetic"`` (ours,
    :mod:`tightfit.tabular.synthetic`, both tasks) or one of TabICL's SCM priors (classification).

    ``max_cells`` (ours only) makes wide tables affordable: the width is then drawn log-uniformly (narrow
    tables stay common) and the rows are cut so that rows x (features + 1) stays within it, never below
    ``min_rows``: the attention work of a 100-wide, 50-row table is about that of a 10-wide, 250-row one.

    ``zero_inflated`` (ours only) is the share of columns that hold one value on many rows (10-70% of them), as
    counts, amounts and absent measurements hold zero on real tables; the labels are drawn after, so the
    point mass can matter. 0 (the default) draws the tables v1 was pretrained on."""

    tables: int = 32
    min_rows: int = 80
    max_rows: int = 250
    min_features: int = 2
    max_features: int = 10
    max_classes: int = 10
    prior_type: str = "synthetic"
    task: str = "classification"
    max_cells: int | None = None
    zero_inflated: float = 0.0

    def __post_init__(self) -> None:
        names = ("tables", "min_rows", "max_rows", "min_features", "max_features")
        check("PriorSettings", **{name: (getattr(self, name), Interval(int, 1)) for name in names})
        if self.min_rows > self.max_rows or self.min_rows < 20:
            raise bad_param("min_rows", "PriorSettings", f"an int in [20, max_rows={self.max_rows}]", self.min_rows)
        if self.min_features > self.max_features:
            raise bad_param("min_features", "PriorSettings", f"<= max_features={self.max_features}", self.min_features)
        if not 2 <= self.max_classes <= 10:
            raise bad_param("max_classes", "PriorSettings", "an int in [2, 10]", self.max_classes)
        if self.prior_type not in PRIOR_TYPES:
            raise bad_param("prior_type", "PriorSettings", " or ".join(map(repr, PRIOR_TYPES)), self.prior_type)
        check("PriorSettings", task=(self.task, Options(*TASKS)),
              max_cells=(self.max_cells, None, Interval(int, 1)),
              zero_inflated=(self.zero_inflated, Interval(float, 0, 1)))  # fmt: skip
        if self.task == "regression" and self.prior_type != "synthetic":
            allowed = f"'classification' with prior_type={self.prior_type!r} (TabICL's priors draw classes)"
            raise bad_param("task", "PriorSettings", allowed, self.task)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TableBatches(Dataset):
    """``n_batches`` batches per epoch, item ``i`` drawn from ``(seed, epoch, i)`` alone by ``_draw``; the item
    is ``(x, y_context, target)``:

    - ``x``: (tables, rows, features) float32, context rows first;
    - ``y_context``: (tables, n_context) int64 labels of the context rows;
    - ``target``: (tables, rows - n_context) int64 labels of the query rows, -100 where the class does not
      occur in that table's context (it cannot be predicted in context, so it is left out of the loss).

    For regression ``y_context`` and ``target`` are float32, standardised with the context's mean and std, as
    the model reads the context and as its bins lie.
    """

    def __init__(self, settings: PriorSettings, n_batches: int, seed: int = 0) -> None:
        check(type(self).__name__, n_batches=(n_batches, Interval(int, 1)))
        self.settings = settings
        self.n_batches = n_batches
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n_batches

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not 0 <= index < self.n_batches:
            raise IndexError(index)
        x, y, n_context = self._draw(self.seed * 1_000_003 + self.epoch * 10_007 + index)
        if self.settings.task == "regression":
            z = standardise_target(y, n_context)
            return x, z[:, :n_context], z[:, n_context:]
        y_context, target = y[:, :n_context], y[:, n_context:].clone()
        present = F.one_hot(y_context, self.settings.max_classes).amax(dim=1).bool()
        target[~present.gather(1, target)] = -100
        return x, y_context, target

    def _draw(self, seed: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(x, labels of all rows, n_context) of one batch, from ``seed`` alone."""
        raise NotImplementedError


class PriorBatches(TableBatches):
    """Batches from TabICL's SCM priors (``settings.prior_type`` ``mlp_scm``, ``tree_scm`` or ``mix_scm``)."""

    def __init__(self, settings: PriorSettings, n_batches: int, seed: int = 0) -> None:
        super().__init__(settings, n_batches, seed)
        if settings.prior_type == "synthetic":
            raise bad_param(
                "settings.prior_type", "PriorBatches", "one of TabICL's: 'mlp_scm', 'tree_scm', 'mix_scm'", "synthetic"
            )
        self._prior = None  # built lazily: DataLoader workers each build their own

    def _build(self):
        try:
            from tabicl.prior import PriorDataset
        except ImportError as exc:
            raise ConfigError(
                f"pretraining draws tables from TabICL's prior: pip install 'tightfit[pretrain]' (missing: {exc.name})."
            ) from None
        s = self.settings
        return PriorDataset(
            batch_size=s.tables,
            batch_size_per_gp=4,
            min_features=s.min_features,
            max_features=s.max_features,
            max_classes=s.max_classes,
            min_seq_len=s.min_rows,
            max_seq_len=s.max_rows,
            prior_type=s.prior_type,
            n_jobs=1,
        )

    def _draw(self, seed: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        if self._prior is None:
            self._prior = self._build()
        seed %= 2**32  # numpy's limit
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        x, y, n_features, _, train_sizes = self._prior.get_batch()
        return x[:, :, : int(n_features.max())].float(), y.long(), int(train_sizes[0])


def prior_batches(settings: PriorSettings, n_batches: int, seed: int = 0) -> Dataset:
    """The dataset for ``settings.prior_type``: ours for ``"synthetic"``, TabICL's otherwise."""
    if settings.prior_type == "synthetic":
        from tightfit.tabular.synthetic import SyntheticBatches

        return SyntheticBatches(settings, n_batches, seed)
    return PriorBatches(settings, n_batches, seed)
