"""`run_limited(fn, memory=, time=)`: run a callable in a child process under hard memory and time limits.

This is how tightfit enforces a memory budget on a machine without a GPU, and how it keeps a planner's
trial run from taking the whole machine down. On Linux the child is forked from a warm server
(:mod:`tightfit._guard_server`) that imported torch once, so a guarded run starts in about 0.1 s instead
of the 4 s a fresh interpreter spends importing torch; elsewhere, or with ``TIGHTFIT_GUARD_FORK=0``, it is a
fresh interpreter. Either way it never re-imports the caller's ``__main__``, so scripts without an
``if __name__ == "__main__"`` guard, notebooks and code piped to ``python -`` all work. ``fn`` travels by
value with cloudpickle: lambdas, closures and functions defined in ``__main__`` are fine.

What the memory limit counts
----------------------------
The **whole child process**, its baseline included: the interpreter and torch (about 200 MB of data and
230 MB of resident memory, shared with the server but counted, as a fresh child that imports torch counts
it) and whatever else ``fn`` imports. Two caps apply together:
the kernel's ``RLIMIT_DATA`` (heap and private anonymous mappings: an allocation past it fails inside the
child, which reports ``BudgetExceeded(kind="memory")``; the cap follows what the child reserves but never
touches, such as thread stacks and allocator arenas, so that it stands in for resident memory), and a watchdog in
the parent that kills the child when its resident set (children included) passes the limit. ``cuda_memory``
additionally caps torch's CUDA caching allocator in the child. This guards against accidents; it is not a security
sandbox.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.machinery
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time as _time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psutil

from tightfit.errors import BudgetExceeded, ChildProcessFailed, bad_param
from tightfit.units import BYTE_FORMS, TIME_FORMS, UnitError, parse_bytes, parse_seconds

__all__ = ["Guarded", "forks_children", "run_limited", "run_measured", "warm_up", "warmed_up"]

_POLL_S = 0.01
_SAMPLE_S = 0.1  # without a memory cap the tree is sampled this often (the child's own high-water mark is exact)
_STARTUP_TIMEOUT_S = 300.0  # unpickling imports (torch, the user's modules) before the clock starts


@dataclass(frozen=True)
class Guarded:
    """What :func:`run_measured` returns: fn's result and what the guard measured of the child.

    ``peak_rss_bytes``: the larger of the child's own high-water mark and the watchdog's sampled peak of the
    child's whole process tree (its worker processes included); ``device_peak_bytes``: torch's CUDA peak in
    the child (0 when CUDA was not used); ``wall_s``: fn's wall time, imports excluded.
    """

    value: Any
    peak_rss_bytes: int
    device_peak_bytes: int
    wall_s: float


class _ChildTraceback(Exception):
    """Carries the child's traceback text as the ``__cause__`` of a re-raised exception."""


def _parse(value: Any, parse: Callable, name: str, forms: str) -> float | None:
    if value is None:
        return None
    try:
        return parse(value)
    except UnitError:
        raise bad_param(name, "run_limited", forms, value) from None


def _importable(module) -> bool:
    """Whether a fresh interpreter with the same sys.path would import ``module`` by name as this same file.

    Resolved part by part on sys.path without importing anything, and compared by file: a test module
    named ``tests.x`` must not resolve to some installed package's own top-level ``tests``.
    """
    name = module.__name__
    if name in ("__main__", "__mp_main__") or name in sys.builtin_module_names:
        return name in sys.builtin_module_names
    path, spec = sys.path, None
    for part in name.split("."):
        spec = importlib.machinery.PathFinder.find_spec(part, path)
        if spec is None:
            return False
        path = spec.submodule_search_locations or []
    origin, actual = getattr(spec, "origin", None), getattr(module, "__file__", None)
    try:
        return origin is not None and actual is not None and os.path.samefile(origin, actual)
    except OSError:  # a frozen or vanished origin
        return False


def _dumps(payload: tuple) -> bytes:
    """Pickle ``(fn, args, kwargs, ...)`` with cloudpickle, sending by value the modules of ``fn`` and of the
    arguments' classes (a model defined in a test or a notebook) when the child could not import them by name."""
    import cloudpickle

    fn, args, kwargs = payload[:3]
    while isinstance(fn, functools.partial):  # a partial's bound arguments travel too (a search's evaluate)
        fn, args, kwargs = fn.func, (*fn.args, *args), {**fn.keywords, **kwargs}
    names = {getattr(fn, "__module__", None)} | {type(value).__module__ for value in (*args, *kwargs.values())}
    modules = [sys.modules.get(name or "") for name in names]
    by_value = [m for m in modules if m is not None and m.__name__ != "__main__" and not _importable(m)]
    for module in by_value:
        cloudpickle.register_pickle_by_value(module)
    try:
        return cloudpickle.dumps(payload)
    finally:
        for module in by_value:
            cloudpickle.unregister_pickle_by_value(module)


def _tree_rss(pid: int) -> int:
    try:
        parent = psutil.Process(pid)
        procs = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total


def _launch(write_fd: int, limit: int, server: _ForkServer | None) -> tuple[Any, Any]:
    """Start a guarded child that reports to ``write_fd``: forked by the warm ``server`` where there is one
    (Linux, unless ``TIGHTFIT_GUARD_FORK=0``), else a fresh interpreter. Returns the process and the payload's
    pipe."""
    if server is not None:
        with contextlib.suppress(_ServerGone):
            return server.launch(write_fd, limit)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tightfit._guard_child", str(write_fd), str(limit)],
        stdin=subprocess.PIPE,
        pass_fds=(write_fd,),
        env=_guard_env(),
        start_new_session=True,
    )
    return proc, proc.stdin


def _guard_env() -> dict[str, str]:
    """The environment of a process the guard starts: the caller's, plus its ``sys.path`` and pid (the new
    process imports from the same path and dies with this one)."""
    return dict(os.environ, TIGHTFIT_GUARD_SYS_PATH=json.dumps(sys.path), TIGHTFIT_GUARD_PARENT=str(os.getpid()))


class _ServerGone(Exception):
    """The warm server died or stopped answering; the caller starts a fresh interpreter instead."""


class _ForkServer:
    """The caller's side of :mod:`tightfit._guard_server`: started once per process, by a thread that lives as
    long as the process (the server dies with the thread that started it), and shared by every guarded run that
    asks for the same ``preload`` (modules the server imports besides torch)."""

    def __init__(self, preload: tuple[str, ...] = ()) -> None:
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._lock = threading.Lock()  # one request and its answer at a time
        self._changed = threading.Condition()
        self._pids: list[int] = []
        self.exits: dict[int, int] = {}
        self.alive = True
        self.ready = threading.Event()
        env = _guard_env()
        command = [sys.executable, "-m", "tightfit._guard_server", str(theirs.fileno()), *preload]
        started = threading.Event()

        def own_the_server() -> None:
            self.proc = subprocess.Popen(command, pass_fds=(theirs.fileno(),), env=env, start_new_session=True)
            theirs.close()
            started.set()
            threading.Event().wait()  # this thread must outlive every guarded run: it ends with the process

        threading.Thread(target=own_the_server, name="tightfit-guard-server", daemon=True).start()
        started.wait()
        threading.Thread(target=self._listen, name="tightfit-guard-listener", daemon=True).start()

    def _listen(self) -> None:
        while True:
            try:
                data = self._sock.recv(4096)
            except OSError:
                data = b""
            with self._changed:
                if not data:
                    self.alive = False
                    self.ready.set()
                    self._changed.notify_all()
                    return
                message = json.loads(data)
                if "ready" in message:
                    self.ready.set()
                elif "pid" in message:
                    self._pids.append(message["pid"])
                else:
                    self.exits[message["exit"]] = message["status"]
                self._changed.notify_all()

    def launch(self, write_fd: int, limit: int) -> tuple[Any, Any]:
        if not self.ready.wait(_STARTUP_TIMEOUT_S) or not self.alive:
            raise _ServerGone
        payload_read, payload_write = os.pipe()
        header = {"limit": limit, "cwd": os.getcwd(), "env": dict(os.environ), "sys_path": sys.path}
        try:
            with self._lock, self._changed:
                socket.send_fds(self._sock, [json.dumps(header).encode()], [payload_read, write_fd, 1, 2])
                if not self._changed.wait_for(lambda: self._pids or not self.alive, timeout=30) or not self._pids:
                    raise _ServerGone
                pid = self._pids.pop(0)
        except OSError:
            raise _ServerGone from None
        finally:
            os.close(payload_read)
        return _ServedChild(self, pid), os.fdopen(payload_write, "wb")

    def wait_exit(self, pid: int, timeout: float | None) -> int | None:
        with self._changed:
            self._changed.wait_for(lambda: pid in self.exits or not self.alive, timeout=timeout)
            if pid not in self.exits and not self.alive:
                self.exits[pid] = -signal.SIGKILL  # the server died, and its children with it
            return self.exits.get(pid)


class _ServedChild:
    """A forked child seen like a ``subprocess.Popen``: ``pid``, ``poll``, ``wait``, ``kill``, ``returncode``."""

    def __init__(self, server: _ForkServer, pid: int) -> None:
        self.server, self.pid, self.returncode = server, pid, None

    def poll(self) -> int | None:
        self.returncode = self.server.wait_exit(self.pid, timeout=0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        self.returncode = self.server.wait_exit(self.pid, timeout)
        return self.returncode

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


_SERVERS: dict[tuple[str, ...], _ForkServer] = {}
_SERVER_LOCK = threading.Lock()


def forks_children() -> bool:
    """Whether guarded children are forked from a warm server here (Linux, unless ``TIGHTFIT_GUARD_FORK=0``):
    then a guarded run costs about 0.2 s, not the seconds of a fresh interpreter's imports."""
    return sys.platform.startswith("linux") and os.environ.get("TIGHTFIT_GUARD_FORK", "1") != "0"


def _warm_server(preload: tuple[str, ...] = ()) -> _ForkServer | None:
    """The process's fork server for ``preload``, started on first use (None where fork is not used). Starting
    returns at once: the server imports in the background, and the first launch waits for it."""
    if not forks_children():
        return None
    key = tuple(sorted(set(preload)))
    with _SERVER_LOCK:
        if key not in _SERVERS or not _SERVERS[key].alive:
            _SERVERS[key] = _ForkServer(key)
        return _SERVERS[key]


def warm_up(preload: Sequence[str] = ()) -> None:
    """Start the warm server for ``preload`` now, so its imports overlap the caller's own work (a no-op where
    children are not forked, or when it is already running)."""
    _warm_server(tuple(preload))


def warmed_up(preload: Sequence[str] = (), timeout: float | None = None) -> bool:
    """Wait, at most ``timeout`` seconds, for the warm server of ``preload`` to finish importing; True when it has
    (or where children are not forked). Anything timed here while it imports is slowed by it: LightGBM's threads
    fit 500 rows in 0.75-1.3 s beside the imports and in 0.05 s after them."""
    server = _warm_server(tuple(preload))
    return server is None or server.ready.wait(timeout)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the child runs in its own session: take its workers too
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


def _wait_for_server(server: _ForkServer | None, preload: tuple[str, ...], until: float | None, called: float) -> None:
    """Wait for the warm server's imports no later than ``until``: a deadline that passes while it is still
    importing is a time overrun like any other, not a silent wait."""
    if server is None or until is None:
        return
    if not server.ready.wait(max(0.0, until - _time.perf_counter())):
        raise BudgetExceeded(
            "time",
            until - called,
            _time.perf_counter() - called,
            detail="the deadline passed while the guard's warm server was still importing "
            f"({', '.join(preload) or 'torch'})",
            hint="raise the time budget: the imports are paid once per process",
        )


def run_limited(
    fn: Callable[..., Any],
    *args: Any,
    memory: int | str | None = None,
    time: float | str | None = None,
    cuda_memory: int | str | None = None,
    preload: Sequence[str] = (),
    until: float | None = None,
    **kwargs: Any,
) -> Any:
    """Run ``fn(*args, **kwargs)`` in a child process and return its result (see :func:`run_measured` for the
    result together with the child's measured peak memory and wall time).

    Parameters
    ----------
    fn : callable
        Any picklable-by-cloudpickle callable; its result must be picklable too.
    memory : int or str, default=None
        Cap on the child's memory (bytes or ``"1GB"``), its interpreter and imports included.
    time : float or str, default=None
        Wall-time cap (seconds or ``"90s"``), counted from the moment ``fn`` starts.
    cuda_memory : int or str, default=None
        Cap on torch's CUDA allocator in the child (``torch.cuda.set_per_process_memory_fraction``).
    preload : sequence of str, default=()
        Modules to have imported before ``fn`` starts: where children are forked, the warm server for this set
        imports them once per process (statsforecast's 3 s of imports, not paid by every child).
    until : float, default=None
        A deadline as a ``time.perf_counter()`` moment: the child is stopped then, whether ``fn`` has started or
        is still importing (``time`` counts from fn's start only). A search's deadline is one.

    Raises
    ------
    BudgetExceeded
        ``kind="memory"`` when an allocation fails under the cap or the watchdog sees the resident set
        pass it; ``kind="time"`` when the deadline passes (the child is killed).
    ChildProcessFailed
        The child died (a signal, ``os._exit``) or raised an exception that cannot be rebuilt here;
        the child's traceback is in the message.
    Exception
        Any other exception ``fn`` raised is re-raised as itself, with the child's traceback as its cause.

    Examples
    --------
    >>> run_limited(lambda a, b: a + b, 2, 3, memory="512MB", time="30s")
    5
    """
    return run_measured(
        fn, *args, memory=memory, time=time, cuda_memory=cuda_memory, preload=preload, until=until, **kwargs
    ).value


def run_measured(
    fn: Callable[..., Any],
    *args: Any,
    memory: int | str | None = None,
    time: float | str | None = None,
    cuda_memory: int | str | None = None,
    preload: Sequence[str] = (),
    until: float | None = None,
    **kwargs: Any,
) -> Guarded:
    """:func:`run_limited`, returning a :class:`Guarded`: the result with the child's peak RSS (its whole
    process tree), its CUDA peak and fn's wall time, so no caller measures a child by hand.

    Examples
    --------
    >>> out = run_measured(sum, [1, 2, 3])
    >>> out.value, out.peak_rss_bytes > 0, out.wall_s >= 0
    (6, True, True)
    """
    memory_limit = _parse(memory, parse_bytes, "memory", BYTE_FORMS)
    time_limit = _parse(time, parse_seconds, "time", TIME_FORMS)
    cuda_limit = _parse(cuda_memory, parse_bytes, "cuda_memory", BYTE_FORMS)
    payload = _dumps((fn, args, kwargs, cuda_limit))

    called = _time.perf_counter()
    server = _warm_server(tuple(preload))
    _wait_for_server(server, tuple(preload), until, called)
    read_fd, write_fd = os.pipe()
    proc, payload_pipe = _launch(write_fd, int(memory_limit or 0), server)
    os.close(write_fd)
    received = bytearray()
    started = threading.Event()
    start_time = [0.0]

    def read_messages() -> None:
        with os.fdopen(read_fd, "rb") as pipe:
            first = pipe.read(1)
            if first == b"S":
                start_time[0] = _time.perf_counter()
                started.set()
            elif first:
                received.extend(first)
            received.extend(pipe.read())

    reader = threading.Thread(target=read_messages, name="tightfit-guard-reader", daemon=True)
    reader.start()
    try:
        payload_pipe.write(payload)
        payload_pipe.close()
    except BrokenPipeError:
        pass  # the child died at start; its exit status tells why

    launched = _time.perf_counter()
    peak_rss, sampled = 0, 0.0
    try:
        while proc.poll() is None:
            now = _time.perf_counter()
            if until is not None and now > until:
                _kill(proc)
                raise BudgetExceeded(
                    "time",
                    until - called,
                    now - called,
                    detail="the child was stopped at the deadline",
                    hint="raise the time budget or make the work smaller",
                )
            if time_limit is not None and started.is_set() and now - start_time[0] > time_limit:
                _kill(proc)
                raise BudgetExceeded(
                    "time",
                    time_limit,
                    now - start_time[0],
                    detail="the child was stopped",
                    hint="raise the time budget or make the work smaller",
                )
            if not started.is_set() and now - launched > _STARTUP_TIMEOUT_S:
                _kill(proc)
                raise ChildProcessFailed(f"the child process did not start fn within {_STARTUP_TIMEOUT_S:.0f}s")
            if memory_limit is None and now - sampled < _SAMPLE_S:
                _time.sleep(_POLL_S)
                continue
            sampled = now
            rss = _tree_rss(proc.pid)
            peak_rss = max(peak_rss, rss)
            if memory_limit is not None and rss > memory_limit:
                _kill(proc)
                raise BudgetExceeded(
                    "memory",
                    memory_limit,
                    rss,
                    detail="resident memory of the child",
                    hint="lower the batch size or use a memory-saving technique",
                )
            _time.sleep(_POLL_S)
    except BaseException:
        if proc.poll() is None:
            _kill(proc)
        raise
    finally:
        reader.join(timeout=10)
    return _decode(bytes(received), proc.returncode, memory_limit, peak_rss)


def _decode(data: bytes, returncode: int, memory_limit: float | None, peak_rss: int) -> Guarded:
    import cloudpickle

    if not data:
        if returncode < 0:
            name = signal.Signals(-returncode).name
            why = f"the child process was killed by {name}"
            if name == "SIGKILL" and memory_limit is not None:
                why += " (the kernel's out-of-memory killer is the usual cause)"
            raise ChildProcessFailed(why)
        raise ChildProcessFailed(f"the child process exited with code {returncode} without sending a result")
    message = cloudpickle.loads(data)
    kind = message[0]
    if kind == "ok":
        _, value, figures = message
        return Guarded(
            value, max(peak_rss, int(figures["hwm_bytes"])), int(figures["device_peak_bytes"]), float(figures["wall_s"])
        )
    if kind == "memory":
        _, observed, detail = message
        raise BudgetExceeded(
            "memory",
            memory_limit or 0,
            observed,
            detail=detail,
            hint="lower the batch size or use a memory-saving technique",
        )
    _, pickled, type_name, text, child_tb = message
    exc = None
    if pickled is not None:
        try:
            exc = cloudpickle.loads(pickled)
        except Exception:
            exc = None
    if isinstance(exc, BaseException):
        raise exc from _ChildTraceback("\n" + child_tb)
    raise ChildProcessFailed(f"{type_name}: {text}\n\nChild traceback:\n{child_tb}", child_traceback=child_tb)
