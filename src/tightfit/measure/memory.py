"""`MemoryMonitor`: sample process RSS (and CUDA memory) on a background thread while a block runs.

Use it for what a process costs the machine — the figure a RAM budget or an OOM killer sees — where
:func:`~tightfit.measure.tracker.track_peak` gives the exact tensor bytes. Samples miss what lives
shorter than one interval, so the peaks also read the kernel's and CUDA's own high-water marks:
on Linux the RSS high-water mark (``VmHWM``) is reset on entry through ``/proc/self/clear_refs``, and on
CUDA ``torch.cuda.reset_peak_memory_stats`` is called on entry (so code that reads those stats inside the
block sees them restart).

>>> import numpy as np
>>> with MemoryMonitor(interval_ms=5) as mon:
...     block = np.ones(50_000_000 // 8)  # 50 MB, touched
...     mon.mark("allocated")
...     del block
>>> mon.peak - mon.baseline >= 45_000_000
True
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tightfit._proc import status_bytes

__all__ = ["MemoryMonitor", "Timeline", "peak_rss"]

_CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclass
class Timeline:
    """Samples in arrival order: seconds since entry and bytes; CUDA lists are empty on the CPU."""

    t: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    cuda_allocated: list[int] = field(default_factory=list)
    cuda_reserved: list[int] = field(default_factory=list)
    marks: list[tuple[float, str]] = field(default_factory=list)


def _reset_rss_high_water_mark() -> bool:
    """Ask Linux to restart VmHWM at the current RSS (clear_refs value 5, Linux >= 4.0)."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def peak_rss() -> int:
    """This process's peak resident memory in bytes, since it started or since a ``MemoryMonitor`` reset it.

    Reads ``VmHWM``, which belongs to the address space, rather than ``getrusage().ru_maxrss``: Linux carries
    ``ru_maxrss`` across ``exec``, so a child started from a 2 GB parent reports at least 2 GB whatever it
    used itself. ``ru_maxrss`` remains the fallback where ``/proc`` is missing (macOS reports it in bytes).
    """
    hwm = status_bytes("VmHWM")
    if hwm is not None:
        return hwm
    import resource

    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss if sys.platform == "darwin" else maxrss * 1024


class MemoryMonitor:
    """Context manager that samples memory every ``interval_ms`` milliseconds.

    Parameters
    ----------
    interval_ms : float, default=10
        Sampling period of the background thread.
    device : str, default="auto"
        ``"cuda"``/``"cuda:N"`` also samples ``torch.cuda.memory_allocated/reserved`` of that device;
        ``"auto"`` does so when torch is imported and sees CUDA; ``"cpu"`` samples RSS only.

    Attributes
    ----------
    peak : int
        The budgeted peak: CUDA allocated bytes when monitoring a GPU, else process RSS bytes.
    peak_rss, peak_cuda_allocated, peak_cuda_reserved : int
    baseline : int
        The same quantity as ``peak`` at entry; ``peak - baseline`` is what the block added.
    timeline : Timeline
    """

    def __init__(self, interval_ms: float = 10.0, device: str = "auto") -> None:
        from tightfit.params import Interval, check

        check(
            "MemoryMonitor",
            interval_ms=(interval_ms, Interval(float, 0, closed="right", what="a positive number of milliseconds")),
        )
        self.interval_s = interval_ms / 1000.0
        self.cuda_index = self._cuda_index(device)
        self.timeline = Timeline()
        self._process = psutil.Process(os.getpid())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._t0 = 0.0
        self._hwm_reset = False
        self.peak_rss = 0
        self.peak_cuda_allocated = 0
        self.peak_cuda_reserved = 0
        self.baseline_rss = 0
        self.baseline_cuda = 0

    @staticmethod
    def _cuda_index(device: str) -> int | None:
        from tightfit.params import check_device

        if check_device(device, "MemoryMonitor") == "cpu":
            return None
        if device == "auto":
            torch = sys.modules.get("torch")
            return torch.cuda.current_device() if torch is not None and torch.cuda.is_available() else None
        return int(device.partition(":")[2] or 0)

    # -- sampling --------------------------------------------------------------------------------------
    def _sample(self) -> None:
        rss = self._process.memory_info().rss
        with self._lock:
            self.timeline.t.append(time.perf_counter() - self._t0)
            self.timeline.rss.append(rss)
            self.peak_rss = max(self.peak_rss, rss)
            if self.cuda_index is not None:
                import torch

                allocated = torch.cuda.memory_allocated(self.cuda_index)
                reserved = torch.cuda.memory_reserved(self.cuda_index)
                self.timeline.cuda_allocated.append(allocated)
                self.timeline.cuda_reserved.append(reserved)
                self.peak_cuda_allocated = max(self.peak_cuda_allocated, allocated)
                self.peak_cuda_reserved = max(self.peak_cuda_reserved, reserved)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> MemoryMonitor:
        if self.cuda_index is not None:
            import torch

            torch.cuda.synchronize(self.cuda_index)
            torch.cuda.reset_peak_memory_stats(self.cuda_index)
            self.baseline_cuda = torch.cuda.memory_allocated(self.cuda_index)
        self._hwm_reset = _reset_rss_high_water_mark()
        self._t0 = time.perf_counter()
        self._sample()
        self.baseline_rss = self.timeline.rss[0]
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="tightfit-memory-monitor", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        if self._hwm_reset:  # the kernel saw every page, including peaks shorter than one interval
            hwm = status_bytes("VmHWM")
            if hwm is not None:
                self.peak_rss = max(self.peak_rss, hwm)
        if self.cuda_index is not None:
            import torch

            torch.cuda.synchronize(self.cuda_index)
            self.peak_cuda_allocated = max(self.peak_cuda_allocated, torch.cuda.max_memory_allocated(self.cuda_index))
            self.peak_cuda_reserved = max(self.peak_cuda_reserved, torch.cuda.max_memory_reserved(self.cuda_index))

    def mark(self, label: str) -> None:
        """Note a phase boundary (``"forward"``, ``"epoch 2"``); marks are drawn on :meth:`plot`."""
        self._sample()
        with self._lock:
            self.timeline.marks.append((self.timeline.t[-1], str(label)))

    # -- results ---------------------------------------------------------------------------------------
    @property
    def peak(self) -> int:
        return self.peak_cuda_allocated if self.cuda_index is not None else self.peak_rss

    @property
    def baseline(self) -> int:
        return self.baseline_cuda if self.cuda_index is not None else self.baseline_rss

    def phase_peaks(self) -> dict[str, int]:
        """Sampled peak of the budgeted quantity between each mark and the next (``"start"`` before the first)."""
        values = self.timeline.cuda_allocated if self.cuda_index is not None else self.timeline.rss
        bounds = [(0.0, "start"), *self.timeline.marks, (float("inf"), "")]
        peaks: dict[str, int] = {}
        for (start, label), (end, _) in itertools.pairwise(bounds):
            inside = [v for t, v in zip(self.timeline.t, values, strict=True) if start <= t <= end]
            if inside:
                peaks[label] = max(peaks.get(label, 0), max(inside))
        return peaks

    def plot(self, path: str | os.PathLike, title: str = "Memory over time") -> Path:
        """Write the timeline as a PNG (or another format matplotlib knows from the suffix); return the path."""
        from tightfit.viz import plot_memory_timeline

        series = {"process RSS": self.timeline.rss}
        if self.cuda_index is not None:
            series["CUDA allocated"] = self.timeline.cuda_allocated
            series["CUDA reserved"] = self.timeline.cuda_reserved
        return plot_memory_timeline(self.timeline.t, series, path, marks=self.timeline.marks, title=title)
