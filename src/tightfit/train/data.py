"""Turn what the user hands over — a ``Dataset``, a ``DataLoader`` or ``(X, y)`` — into optimizer steps.

One optimizer step consumes a *step batch*: ``micro_batch * accumulation`` rows drawn by our own seeded
sampler (for a ``Dataset`` or arrays), or ``accumulation`` batches of the user's ``DataLoader``. The engine
then cuts the step batch into chunks of at most ``micro_batch`` rows — which is what lets an OOM back-off
halve the micro-batch and keep the effective batch unchanged.

Under data parallelism (``rank``/``world_size``) a step batch is *global*: ``world_size`` times the rows,
drawn from the same seeded permutation as a single process draws them, and each rank keeps its consecutive
share — so every global batch holds the same rows whatever the number of ranks. A ``DataLoader`` whose
sampler is a ``DistributedSampler`` is already sharded and is used as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, TensorDataset

from tightfit.errors import DataError

__all__ = ["StepBatches", "as_dataset", "chunk_batch", "concat_batches", "move_batch", "n_rows"]


def _as_tensor(values: Any, name: str) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        return values
    if hasattr(values, "to_numpy"):  # pandas / polars
        values = values.to_numpy()
    array = np.asarray(values)
    if array.dtype == object:
        raise DataError(f"{name} has dtype object; convert it to numbers before training (got {array[:3]!r}...).")
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor.float() if tensor.is_floating_point() and tensor.dtype == torch.float64 else tensor


def as_dataset(data: Any, name: str = "train_data") -> Dataset | DataLoader:
    """A ``Dataset``/``DataLoader`` as is; ``(X, y)`` arrays or tensors as a ``TensorDataset`` (float64 -> float32)."""
    if isinstance(data, (Dataset, DataLoader)):
        return data
    if isinstance(data, (tuple, list)) and len(data) >= 2:
        tensors = [_as_tensor(part, f"{name}[{i}]") for i, part in enumerate(data)]
        lengths = {len(t) for t in tensors}
        if len(lengths) != 1:
            raise DataError(f"{name} parts have different numbers of rows: {[len(t) for t in tensors]}.")
        if lengths == {0}:
            raise DataError(f"{name} is empty.")
        return TensorDataset(*tensors)
    raise DataError(
        f"{name} must be a torch Dataset, a DataLoader or an (X, y) pair of arrays/tensors; got {type(data).__name__}."
    )


def _collate(samples: list) -> Any:
    return torch.utils.data.default_collate(samples)


class StepBatches:
    """Iterate the step batches of one epoch, reproducibly, and resume mid-epoch by skipping; with
    ``world_size > 1``, this rank's share of each global step batch (``rows_per_step`` rows per rank)."""

    def __init__(
        self,
        data: Dataset | DataLoader,
        rows_per_step: int,
        accumulation: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.data = data
        self.rows_per_step = rows_per_step * world_size
        self.accumulation = accumulation
        self.seed = seed
        self.rank, self.world_size = rank, world_size
        self.is_loader = isinstance(data, DataLoader)
        self.presharded = self.is_loader and isinstance(data.sampler, DistributedSampler)

    def __len__(self) -> int:
        if self.is_loader:
            return -(-len(self.data) // self.accumulation)
        return -(-len(self.data) // self.rows_per_step)

    def epoch(self, epoch: int, skip: int = 0) -> Iterator[Any]:
        source = self.data.dataset if self.is_loader else self.data
        if hasattr(source, "set_epoch"):  # the DistributedSampler convention: a generator draws fresh data
            source.set_epoch(epoch)
        if self.is_loader:
            yield from self._loader_epoch(skip)
            return
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(len(self.data), generator=generator)
        for start in range(skip * self.rows_per_step, len(order), self.rows_per_step):
            yield self._rows(self._share(order[start : start + self.rows_per_step]))

    def ordered(self) -> Iterator[Any]:
        """Step batches in storage order, without shuffling (for evaluation); this rank's share of each."""
        if self.is_loader:
            yield from self._loader_epoch(0)
            return
        for start in range(0, len(self.data), self.rows_per_step):
            yield self._rows(self._share(torch.arange(start, min(start + self.rows_per_step, len(self.data)))))

    def _share(self, index: torch.Tensor) -> torch.Tensor:
        """This rank's consecutive share of a global batch's indices (sizes differ by at most one)."""
        return torch.tensor_split(index, self.world_size)[self.rank] if self.world_size > 1 else index

    def _rows(self, index: torch.Tensor) -> Any:
        if isinstance(self.data, TensorDataset):  # one gather per tensor instead of one call per row
            return tuple(t[index] for t in self.data.tensors)
        if not len(index):
            return _map(_collate([self.data[0]]), lambda t: t[:0])  # an empty batch of the right structure
        return _collate([self.data[int(i)] for i in index])

    def _loader_epoch(self, skip: int) -> Iterator[Any]:
        group: list = []
        for index, batch in enumerate(self.data):
            if index < skip * self.accumulation:
                continue
            group.append(batch)
            if len(group) == self.accumulation:
                yield self._loader_share(concat_batches(group))
                group = []
        if group:
            yield self._loader_share(concat_batches(group))

    def _loader_share(self, batch: Any) -> Any:
        """A loader's batch is global unless its sampler already shards: keep this rank's rows."""
        if self.world_size == 1 or self.presharded:
            return batch
        share = self._share(torch.arange(n_rows(batch)))
        return _map(batch, lambda t: t[share] if t.dim() else t)


def _map(batch: Any, fn) -> Any:
    if isinstance(batch, torch.Tensor):
        return fn(batch)
    if isinstance(batch, dict):
        return {k: _map(v, fn) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_map(v, fn) for v in batch)
    return batch


def n_rows(batch: Any) -> int:
    """Rows in a batch: the first dimension of its first tensor."""
    if isinstance(batch, torch.Tensor):
        return len(batch)
    values = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (list, tuple)) else []
    for value in values:
        rows = n_rows(value)
        if rows:
            return rows
    return 0


def chunk_batch(batch: Any, size: int) -> list[Any]:
    """Cut a batch into consecutive pieces of at most ``size`` rows (tensors sliced along dim 0)."""
    total = n_rows(batch)
    return [_map(batch, lambda t, s=start: t[s : s + size]) for start in range(0, total, size)]


def concat_batches(batches: list[Any]) -> Any:
    """Join batches of the same structure along dim 0."""
    first = batches[0]
    if len(batches) == 1:
        return first
    if isinstance(first, torch.Tensor):
        return torch.cat(batches)
    if isinstance(first, dict):
        return {k: concat_batches([b[k] for b in batches]) for k in first}
    if isinstance(first, (list, tuple)):
        return type(first)(concat_batches(list(parts)) for parts in zip(*batches, strict=True))
    return first


def move_batch(batch: Any, device: torch.device) -> Any:
    return _map(batch, lambda t: t.to(device, non_blocking=True))
