"""`EpisodeBatches`: fine-tuning episodes (support/query splits) drawn from a user's own labelled rows.

An in-context model is fine-tuned the way it was pretrained: on small tables whose context (the support
rows) predicts held-out query rows. Item ``i`` of an epoch is one episode, drawn from ``(seed, epoch, i)``
alone, shaped like the pretraining prior's tables so the same loss and engine apply:
``(x (rows, features), y_context (support,), target (query,))``.

- ``"meta-learning"``: each episode draws a random support and query, maps its classes to a random
  permutation of ``0..k-1`` (the model must read the labels from the context, not memorise them) and, for
  half of the episodes, uses the quantile-normal view of the features that half the ensemble members see.
- ``"sft"``: each epoch permutes the rows and cuts them into query blocks, so every row is a query once
  per epoch; the support is drawn from the other rows and the labels keep their fixed codes.

With ``task="regression"`` ``y`` is a continuous target: an episode standardises its support's and queries'
targets with the support's mean and std (as the model reads a context and as its bins lie), and there are
no labels to permute.

With ``query_X``/``query_y`` the queries come from those rows instead (validation: context from the
training rows, queries from held-out ones) and the episodes are the same in every epoch.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from tightfit.errors import DataError
from tightfit.tabular.models.tiny import standardise_target

__all__ = ["EpisodeBatches"]


class EpisodeBatches(Dataset):
    """``n_episodes`` episodes per epoch over ``(X, y)``; ``y`` holds class codes ``0..n_classes-1``, or a
    regression target with ``task="regression"``."""

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        support_size: int,
        query_size: int,
        n_episodes: int,
        mode: str = "meta-learning",
        max_classes: int = 10,
        seed: int = 0,
        X_view: np.ndarray | None = None,
        query_X: np.ndarray | None = None,
        query_y: np.ndarray | None = None,
        query_view: np.ndarray | None = None,
        task: str = "classification",
    ) -> None:
        self.task = task
        target_type = np.int64 if task == "classification" else np.float32
        self.X, self.y = np.asarray(X, dtype=np.float32), np.asarray(y, dtype=target_type)
        self.views = [self.X] if X_view is None else [self.X, np.asarray(X_view, dtype=np.float32)]
        self.query_X = None if query_X is None else np.asarray(query_X, dtype=np.float32)
        self.query_y = None if query_y is None else np.asarray(query_y, dtype=target_type)
        self.query_views = None if query_X is None else [self.query_X] + ([] if query_view is None else [query_view])
        self.mode = mode
        self.max_classes = max_classes
        self.seed = seed
        self.epoch = 0
        self.n_classes = int(self.y.max()) + 1 if task == "classification" else 0
        if mode == "sft" and self.n_classes > max_classes:
            raise DataError(
                f"finetune_mode='sft' keeps the labels fixed, and y has {self.n_classes} classes while the model "
                f"has {max_classes} outputs; use finetune_mode='meta-learning', which samples {max_classes} "
                "classes per episode."
            )
        pool = self._smallest_pool()
        if self.query_X is None:
            self.query_size = min(query_size, pool // 2)
            self.support_size = min(support_size, pool - self.query_size)
        else:
            self.query_size = min(query_size, len(self.query_y))
            self.support_size = min(support_size, pool)
        if self.support_size < 2 or self.query_size < 1:
            raise DataError(
                f"{len(self.y)} labelled rows are too few for fine-tuning episodes (support {self.support_size}, "
                f"query {self.query_size}); use tuning_strategy='inference'."
            )
        self.n_episodes = n_episodes

    def _smallest_pool(self) -> int:
        """Rows available to an episode: all, or the rows of the ``max_classes`` rarest classes when an
        episode must pick a subset of the classes."""
        if self.n_classes <= self.max_classes:
            return len(self.y)
        counts = np.sort(np.bincount(self.y))
        return int(counts[: self.max_classes].sum())

    def set_epoch(self, epoch: int) -> None:
        if self.query_X is None:  # validation episodes stay fixed, so epochs compare on the same data
            self.epoch = epoch

    def __len__(self) -> int:
        return self.n_episodes

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not 0 <= index < self.n_episodes:
            raise IndexError(index)
        rng = np.random.default_rng((self.seed, self.epoch, index))
        view = int(rng.integers(len(self.views))) if self.mode == "meta-learning" else 0
        if self.mode == "sft" and self.query_X is None:
            support, query = self._sft_rows(index, rng)
        else:
            support, query = self._random_rows(rng)
        query_X = self.views[view] if self.query_X is None else self.query_views[min(view, len(self.query_views) - 1)]
        query_y = self.y if self.query_y is None else self.query_y
        x = np.concatenate([self.views[view][support], query_X[query]])
        if self.task == "regression":
            both = torch.from_numpy(np.concatenate([self.y[support], query_y[query]]))[None]
            z = standardise_target(both, len(support))
            return torch.from_numpy(x), z[0, : len(support)], z[0, len(support) :]
        labels = np.arange(self.n_classes)
        if self.mode == "meta-learning":
            chosen = np.unique(self.y[support])
            labels = np.full(self.n_classes, -100)
            labels[chosen] = rng.permutation(len(chosen))
        y_context = labels[self.y[support]]
        target = labels[query_y[query]]
        present = np.zeros(self.n_classes + 1, dtype=bool)
        present[y_context] = True
        target = np.where(present[np.where(target < 0, self.n_classes, target)], target, -100)
        return torch.from_numpy(x), torch.from_numpy(y_context), torch.from_numpy(target)

    def _random_rows(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        rows = np.arange(len(self.y))
        if self.n_classes > self.max_classes:
            classes = rng.choice(self.n_classes, size=self.max_classes, replace=False)
            rows = rows[np.isin(self.y, classes)]
        rows = rng.permutation(rows)
        support = rows[: self.support_size]
        if self.query_X is not None:
            pool = np.arange(len(self.query_y))
            if self.n_classes > self.max_classes:
                pool = pool[np.isin(self.query_y, np.unique(self.y[support]))]
            query = rng.choice(pool, size=min(self.query_size, len(pool)), replace=False)
            if len(query) < self.query_size:  # pad so every episode of a batch has the same shape
                query = np.concatenate([query, rng.choice(pool, size=self.query_size - len(query))])
            return support, query
        return support, rows[self.support_size : self.support_size + self.query_size]

    def _sft_rows(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        order = np.random.default_rng((self.seed, self.epoch)).permutation(len(self.y))
        start = (index * self.query_size) % len(order)
        query = np.take(order, np.arange(start, start + self.query_size), mode="wrap")
        rest = np.setdiff1d(np.arange(len(self.y)), query, assume_unique=True)
        return rng.choice(rest, size=self.support_size, replace=False), query
