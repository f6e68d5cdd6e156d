"""Measurement: the single source of every number tightfit prints.

- :class:`MemoryMonitor` — sampled process RSS and CUDA memory, with peak, timeline, marks and a plot;
- :func:`peak_rss` — this process's peak RSS (``VmHWM``: not inherited from a parent across ``exec``);
- :func:`track_peak` — exact peak of live tensor bytes of one call, split by category;
- :func:`latency` — p50/p95/mean/std of a call after warm-up, CUDA synchronised; :func:`stopwatch` — the wall
  time of one call; :class:`Deadline` — the time left of a budget;
- :func:`size_of` — bytes of a model's tensors or of a saved artefact.

Names load on first use, so importing this package does not import torch.
"""

from __future__ import annotations

from tightfit._lazy import lazy_attributes

_LAZY = {
    "CATEGORIES": "tracker",
    "PeakReport": "tracker",
    "TensorTracker": "tracker",
    "track_peak": "tracker",
    "LatencyReport": "timing",
    "latency": "timing",
    "stopwatch": "timing",
    "Deadline": "timing",
    "MemoryMonitor": "memory",
    "Timeline": "memory",
    "peak_rss": "memory",
    "size_of": "size",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_attributes(__name__, _LAZY)
