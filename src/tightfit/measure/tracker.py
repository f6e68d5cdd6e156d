"""`track_peak(fn)`: the exact peak of live tensor bytes while ``fn`` runs, split by what the bytes hold.

A :class:`~torch.utils._python_dispatch.TorchDispatchMode` sees every ATen op. Each tensor storage an op
creates is counted once (views share a storage) until the storage is freed (a weak-reference finalizer).
A storage that existed before the call is counted from the start of the call as soon as an op touches it,
so model weights and the input batch are part of the peak. Tensors the call never touches are not: the
figure is "what this call needs", not "everything in the process". Because it counts bytes rather than
sampling a process, the figure is exact and repeatable, and works unchanged under ``FakeTensorMode`` —
which is how ``tightfit.plan`` predicts a training step's peak without running it.

Categories at the peak: ``params`` (``nn.Parameter`` storages), ``grads`` (what autograd
accumulated into ``.grad``), ``optimizer`` (tensors an optimizer keeps in ``state``, and the temporaries
of its ``step``), ``activations``
(created by the call outside the backward pass: forward outputs kept for backward, the loss, copies of
the input) and ``other`` (backward temporaries, pre-existing non-parameter tensors such as the batch).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["CATEGORIES", "PeakReport", "TensorTracker", "track_peak"]

CATEGORIES = ("params", "grads", "optimizer", "activations", "other")
_RANK = {name: rank for rank, name in enumerate(CATEGORIES)}  # lower rank wins when a storage plays two parts


@dataclass
class PeakReport:
    """What :func:`track_peak` measured; bytes throughout.

    ``peak`` is the largest total of live tensor storage at any moment of the call; ``breakdown`` splits
    that moment by category; ``end`` is what was still live when the call returned.
    """

    result: Any
    peak: int
    breakdown: dict[str, int] = field(default_factory=dict)
    end: int = 0
    n_ops: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"peak": self.peak, "breakdown": dict(self.breakdown), "end": self.end, "n_ops": self.n_ops}


def _tensors_in(value: Any) -> list[torch.Tensor]:
    """The tensors in an op's arguments or outputs: nested tuples, lists and dicts of tensors and scalars (what
    ATen ops take and return). A third of the cost of ``tree_flatten``, which the tracker paid twice per op."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in _tensors_in(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _tensors_in(item)]
    return []


@dataclass
class _Storage:
    n_bytes: int
    category: str
    born: int  # events that had happened when it was created; -1 for a storage older than the call
    died: int | None = None  # events that had happened when it was freed


class TensorTracker(TorchDispatchMode):
    """Count live tensor storage bytes op by op. Use :func:`track_peak` unless you need the mode itself.

    ``device`` restricts counting to one device type (``"cuda"``, ``"cpu"``); ``None`` counts all.
    ``round_to``: besides the exact peak, ``rounded_peak`` counts each storage rounded up to a multiple of that
    many bytes — 512 models the CUDA caching allocator's block rounding, which ``torch.cuda.max_memory_allocated``
    reports. Both come from the same pass (a fake-tensor estimate runs the step once, not once per rounding).
    """

    def __init__(self, device: str | None = None, round_to: int = 1) -> None:
        super().__init__()
        self.device_type = None if device is None else torch.device(device).type
        self.round_to = round_to
        self.n_ops = 0
        self._lock = threading.RLock()  # finalizers may fire on another thread, or inside our own code
        self._live_records: dict[int, _Storage] = {}  # storage address -> record, while alive
        self._records: list[_Storage] = []
        self._finalizers: list[weakref.finalize] = []
        self._n_events = 0  # creations + frees so far
        self._live = 0
        self._peak = 0
        self._peak_event = 0
        self._live_rounded = 0
        self._peak_rounded = 0
        self._hooks: list[Any] = []
        self._hooked_params: set[int] = set()
        self._in_optimizer_step = False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        with self._lock:
            for tensor in _tensors_in((args, kwargs)):
                self._see(tensor, created=False)
        out = func(*args, **kwargs)
        in_backward = torch._C._current_graph_task_id() != -1
        with self._lock:
            self.n_ops += 1
            for tensor in _tensors_in(out):
                self._see(tensor, created=True, in_backward=in_backward)
        return out

    def __enter__(self):
        self._hooks.append(register_optimizer_step_pre_hook(self._on_optimizer_step_start))
        self._hooks.append(register_optimizer_step_post_hook(self._on_optimizer_step))
        return super().__enter__()

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            for handle in self._hooks:
                handle.remove()
            self._hooks.clear()
            for fin in self._finalizers:
                fin.detach()
            self._finalizers.clear()

    # -- bookkeeping ---------------------------------------------------------------------------------
    def _storage_of(self, tensor: torch.Tensor):
        if self.device_type is not None and tensor.device.type != self.device_type:
            return None
        try:
            return tensor.untyped_storage()
        except (RuntimeError, NotImplementedError):  # sparse and other storage-less layouts
            return None

    def _see(self, tensor: torch.Tensor, created: bool, in_backward: bool = False) -> None:
        storage = self._storage_of(tensor)
        if storage is None:
            return
        key, n_bytes = storage._cdata, storage.nbytes()
        is_param = isinstance(tensor, torch.nn.Parameter)
        record = self._live_records.get(key)
        if record is not None:
            if record.n_bytes != n_bytes:  # resized in place (resize_, out= ops)
                self._add(n_bytes - record.n_bytes, self._rounded(n_bytes) - self._rounded(record.n_bytes))
                record.n_bytes = n_bytes
        else:
            if is_param:
                category = "params"
            elif created and self._in_optimizer_step:
                category = "optimizer"
            elif created and not in_backward:
                category = "activations"
            else:
                category = "other"
            record = _Storage(n_bytes, category, born=self._n_events if created else -1)
            self._live_records[key] = record
            self._records.append(record)
            self._finalizers.append(weakref.finalize(storage, self._on_free, key))
            if created:
                self._n_events += 1
                self._add(n_bytes, self._rounded(n_bytes))
            else:  # live for the whole call so far: every earlier moment, the peak included, grows by it
                self._live += n_bytes
                self._peak += n_bytes
                self._live_rounded += self._rounded(n_bytes)
                self._peak_rounded += self._rounded(n_bytes)
        if is_param:
            record.category = "params"
            if tensor.requires_grad and id(tensor) not in self._hooked_params:
                self._hooked_params.add(id(tensor))
                self._hooks.append(tensor.register_post_accumulate_grad_hook(self._on_grad))

    def _rounded(self, n_bytes: int) -> int:
        return -(-n_bytes // self.round_to) * self.round_to

    def _add(self, n_bytes: int, rounded: int) -> None:
        self._live += n_bytes
        if self._live > self._peak:
            self._peak = self._live
            self._peak_event = self._n_events
        self._live_rounded += rounded
        self._peak_rounded = max(self._peak_rounded, self._live_rounded)

    def _on_free(self, key: int) -> None:
        with self._lock:
            record = self._live_records.pop(key, None)
            if record is None:
                return
            self._live -= record.n_bytes
            self._live_rounded -= self._rounded(record.n_bytes)
            record.died = self._n_events
            self._n_events += 1

    def _mark(self, tensor: torch.Tensor, category: str) -> None:
        storage = self._storage_of(tensor)
        if storage is None:
            return
        with self._lock:
            record = self._live_records.get(storage._cdata)
            if record is not None and _RANK[category] < _RANK[record.category]:
                record.category = category

    def _on_grad(self, param: torch.Tensor) -> None:
        if param.grad is not None:
            self._mark(param.grad, "grads")

    def _on_optimizer_step_start(self, optimizer, args, kwargs) -> None:
        self._in_optimizer_step = True

    def _on_optimizer_step(self, optimizer, args, kwargs) -> None:
        self._in_optimizer_step = False
        for state in optimizer.state.values():
            for value in state.values():
                if isinstance(value, torch.Tensor):
                    self._mark(value, "optimizer")

    # -- results -------------------------------------------------------------------------------------
    @property
    def peak(self) -> int:
        """Largest live total so far, in bytes."""
        return self._peak

    @property
    def rounded_peak(self) -> int:
        """Largest live total so far with each storage rounded up to ``round_to`` bytes (the exact peak when 1)."""
        return self._peak_rounded

    @property
    def live(self) -> int:
        """Live total now, in bytes."""
        return self._live

    def breakdown(self) -> dict[str, int]:
        """Bytes per category at the moment of the peak."""
        totals = dict.fromkeys(CATEGORIES, 0)
        for record in self._records:
            alive_at_peak = record.born < self._peak_event and (record.died is None or record.died >= self._peak_event)
            if alive_at_peak:
                totals[record.category] += record.n_bytes
        return totals


def track_peak(
    fn: Callable[..., Any], *args: Any, device: str | None = None, round_to: int = 1, **kwargs: Any
) -> PeakReport:
    """Run ``fn(*args, **kwargs)`` and return its result with the exact peak of live tensor bytes.

    Parameters
    ----------
    fn : callable
        The code to measure; tensors it creates or touches are counted.
    device : str, default=None
        Count only storages on this device type (``"cpu"``, ``"cuda"``); ``None`` counts every device.
    round_to : int, default=1
        ``peak`` rounds each storage up to a multiple of this many bytes (512: the CUDA caching allocator's
        blocks); ``breakdown`` stays in exact bytes, at the moment of the exact peak.

    Returns
    -------
    PeakReport
        ``result``, ``peak`` (bytes), ``breakdown`` (bytes per category at the peak), ``end``, ``n_ops``.

    Examples
    --------
    >>> import torch
    >>> report = track_peak(lambda: torch.ones(1000, dtype=torch.float32) * 2)
    >>> report.peak  # the ones (4000 bytes) and the product (4000 bytes) are live together
    8000
    """
    tracker = TensorTracker(device=device, round_to=round_to)
    with tracker:
        result = fn(*args, **kwargs)
    return PeakReport(
        result=result, peak=tracker.rounded_peak, breakdown=tracker.breakdown(), end=tracker.live, n_ops=tracker.n_ops
    )
