"""What Linux says about this process in ``/proc/self/status``: the one reader of it, for the base layer (the
guard's child) and for ``measure/`` alike."""

from __future__ import annotations

from pathlib import Path

__all__ = ["status_bytes"]

_STATUS = Path("/proc/self/status")


def status_bytes(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (``VmHWM``, ``VmRSS``, ``VmData``) in bytes; None without /proc."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
