"""Release freed tensor memory to the OS at once (glibc), so a CPU training process's RSS follows its live tensors.

By default glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), so activations
soon come from the heap, and freed heap memory stays resident: fragmentation between micro-batches and steps
makes the peak RSS of CPU training drift upward and vary run to run. Measured on the planner's test model
(``tests/plan/zoo.py``, 32k rows, 2 threads): one config peaked at 609-703 MB over 2-30 steps with the default
allocator, and at 544 MB (the interpreter plus the tracked tensor peak) at 2, 4 and 8 steps with a fixed
128 KiB threshold. The price is page faults on every large allocation: +10-45% step time on that model.

``mallopt(M_MMAP_THRESHOLD)`` fixes the threshold, which also turns glibc's dynamic adjustment off, for the
whole process and for the rest of its life; there is no call that restores the dynamic mode.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import platform

__all__ = ["RELEASE_THRESHOLD_BYTES", "release_freed_memory"]

log = logging.getLogger(__name__)

RELEASE_THRESHOLD_BYTES = 128 * 1024  # glibc's own starting threshold: blocks this size and larger are mmap'd
_M_MMAP_THRESHOLD = -3  # malloc.h


@functools.cache
def release_freed_memory() -> bool:
    """Fix glibc's mmap threshold for this process; True when it was applied (glibc only, else a no-op)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        log.info("release_memory needs glibc's malloc; this process uses another allocator, so it is off")
        return False
    libc = ctypes.CDLL(None)
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, RELEASE_THRESHOLD_BYTES))
