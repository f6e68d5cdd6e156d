"""The child side of :func:`tightfit.guard.run_limited`: ``python -m tightfit._guard_child FD LIMIT``, or a
process forked by :mod:`tightfit._guard_server` that calls :func:`run`.

Reads a cloudpickled ``(fn, args, kwargs, cuda_memory)`` from stdin (or the server's pipe), caps its own data segment at
LIMIT bytes (0 = no cap), writes ``b"S"`` to FD when ``fn`` starts, then one cloudpickled message:
``("ok", result, figures)``, ``("memory", observed_bytes, detail)`` or ``("error", exc_or_None, type, text, tb)``;
``figures`` is what the child measured of itself: its own high-water RSS, torch's CUDA peak and fn's wall time.
"""

from __future__ import annotations

import json
import os
import re
import resource
import sys
import threading
import time
import traceback

from tightfit._proc import status_bytes
from tightfit.errors import is_out_of_memory

_FOLLOW_S = 0.05  # how often the data-segment cap follows the memory reserved but not touched

_REQUESTED = re.compile(
    r"tried to allocate (\d+) bytes|Tried to allocate ([\d.]+) ([KMGT]i?B)|allocate ([\d.]+) ([KMGT]i?B)"
)


def _vm_data() -> int:
    return status_bytes("VmData") or 0


def _unresident_data() -> int:
    """Data this process has reserved but not touched: the limit is on resident memory, and the kernel's cap
    on the data segment stands in for it. A child forked from the warm server holds the server's reserved
    but never-touched heap (about 70 MB with torch); a fresh interpreter holds next to none."""
    return max(0, _vm_data() - (status_bytes("VmRSS") or 0))


def _follow_reservations(limit: int, hard: int, stop: threading.Event) -> None:
    """Raise the data-segment cap as the process reserves memory it does not touch, so that the cap keeps standing
    in for resident memory: the payload's imports, thread pools and allocator arenas reserve it after the cap is
    set (measured: a TinyTFM fine-tune under memory=2GB had reserved 1.1 GB it never touched and failed to
    allocate 27 MB at 0.88 GB resident). Never lowered; the parent's watchdog still caps the resident set."""
    cap = resource.getrlimit(resource.RLIMIT_DATA)[0]
    while not stop.wait(_FOLLOW_S):
        wanted = limit + _unresident_data()
        if wanted > cap:
            cap = wanted
            resource.setrlimit(resource.RLIMIT_DATA, (cap, hard))


def _stop_following(following: threading.Thread | None, stop: threading.Event) -> None:
    """End :func:`_follow_reservations` before the cap is lifted, so it cannot set it back."""
    stop.set()
    if following is not None:
        following.join()


def _figures(wall_s: float) -> dict[str, float]:
    """The child's own high-water RSS (``VmHWM``), torch's CUDA peak when CUDA was used, and fn's wall time."""
    device_peak = 0
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        device_peak = max(torch.cuda.max_memory_allocated(i) for i in range(torch.cuda.device_count()))
    return {"hwm_bytes": status_bytes("VmHWM") or 0, "device_peak_bytes": device_peak, "wall_s": wall_s}


def _requested_bytes(text: str) -> int | None:
    from tightfit.units import parse_bytes

    match = _REQUESTED.search(text)
    if match is None:
        return None
    if match.group(1):
        return int(match.group(1))
    number, unit = (match.group(2), match.group(3)) if match.group(2) else (match.group(4), match.group(5))
    return parse_bytes(number + unit)


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this process when the one that started it dies (``kill -9`` of a command),
    so no guarded child outlives its caller. ``parent`` is the pid expected to have started it."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if parent and os.getppid() != parent:  # the parent died before the request was in place
        os._exit(1)


def main() -> None:
    """``python -m tightfit._guard_child FD LIMIT``: a fresh interpreter, the payload on stdin."""
    _die_with_parent(int(os.environ.pop("TIGHTFIT_GUARD_PARENT", "0")))
    sys.path[:] = json.loads(os.environ.pop("TIGHTFIT_GUARD_SYS_PATH", "[]")) or sys.path
    run(sys.stdin.buffer, os.fdopen(int(sys.argv[1]), "wb"), int(sys.argv[2]))


def run(source, out, limit: int) -> None:
    """Read the payload from ``source``, run it under a data-segment cap of ``limit`` bytes (0: none) and write
    the start mark and the one message to ``out`` (see the module docstring)."""
    import cloudpickle

    hard = resource.getrlimit(resource.RLIMIT_DATA)[1]
    following, stop = None, threading.Event()
    if limit:  # soft cap only, so this code can lift it to report an allocation failure
        resource.setrlimit(resource.RLIMIT_DATA, (limit + _unresident_data(), hard))
        following = threading.Thread(target=_follow_reservations, args=(limit, hard, stop), daemon=True)
        following.start()
    try:
        fn, args, kwargs, cuda_memory = cloudpickle.loads(source.read())
        if cuda_memory:
            import torch

            total = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory
            torch.cuda.set_per_process_memory_fraction(min(1.0, cuda_memory / total))
        out.write(b"S")
        out.flush()
        started = time.perf_counter()
        result = fn(*args, **kwargs)
        message = ("ok", result, _figures(time.perf_counter() - started))
    except BaseException as exc:  # everything goes back to the parent, KeyboardInterrupt and SystemExit too
        _stop_following(following, stop)
        resource.setrlimit(resource.RLIMIT_DATA, (hard, hard))
        if is_out_of_memory(exc):
            requested = _requested_bytes(str(exc))
            observed = _vm_data() + requested if requested is not None else None
            first_line = (str(exc).strip().splitlines() or [""])[0][:300]
            message = ("memory", observed, f"{type(exc).__name__}: {first_line}".rstrip(": "))
        else:
            try:
                pickled = cloudpickle.dumps(exc)
            except Exception:
                pickled = None
            message = ("error", pickled, type(exc).__name__, str(exc), traceback.format_exc())
    _stop_following(following, stop)
    resource.setrlimit(resource.RLIMIT_DATA, (hard, hard))
    try:
        data = cloudpickle.dumps(message)
    except Exception as exc:
        data = cloudpickle.dumps(
            (
                "error",
                None,
                type(exc).__name__,
                f"the result of fn could not be pickled: {exc}",
                traceback.format_exc(),
            )
        )
    out.write(data)
    out.close()


if __name__ == "__main__":
    main()
