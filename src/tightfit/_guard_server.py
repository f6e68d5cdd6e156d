"""A warm parent for guarded children (Linux): ``python -m tightfit._guard_server FD [MODULE ...]``.

Starting a fresh interpreter for every guarded run cost about 4 s on a laptop CPU before ``fn`` ran: importing
torch, then ``torch._dynamo``, which torch imports the first time an optimizer is built. This process pays
that once: it imports them (and the MODULEs the caller asked for, such as statsforecast), then waits on the
socket FD. For each request (a JSON header and, passed as file descriptors, the payload pipe, the result pipe,
stdout and stderr) it forks a child that starts its own session, takes the caller's working directory,
environment and ``sys.path``, and runs :func:`tightfit._guard_child.run`. It answers ``{"pid": ...}`` at once
and ``{"exit": pid, "status": code}`` when the child ends (a negative code: killed by that signal), one
message per packet (``SOCK_SEQPACKET``).

The server never runs torch code itself (a fork after torch has started threads or CUDA would be unsafe),
and dies with the process that started it; its children die with it.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys

_HEADER_BYTES = 1 << 20
_PRELOAD = ("torch", "torch._dynamo", "cloudpickle", "psutil", "tightfit._guard_child")


def main() -> None:
    from tightfit._guard_child import _die_with_parent

    _die_with_parent(int(os.environ.pop("TIGHTFIT_GUARD_PARENT", "0")))
    sys.path[:] = json.loads(os.environ.pop("TIGHTFIT_GUARD_SYS_PATH", "[]")) or sys.path
    channel = socket.socket(fileno=int(sys.argv[1]))
    for name in _PRELOAD:
        __import__(name)
    for name in sys.argv[2:]:  # the caller's extra modules; one that fails to import fails in the child instead
        try:
            __import__(name)
        except Exception as exc:
            print(f"tightfit guard server: could not preload {name}: {exc}", file=sys.stderr)
    channel.send(b'{"ready": true}')
    me = os.getpid()
    children: set[int] = set()
    woken, wake = os.pipe()  # a child's exit wakes the loop (SIGCHLD): no polling while idle
    os.set_blocking(wake, False)
    signal.set_wakeup_fd(wake)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    while True:
        readable, _, _ = select.select([channel, woken], [], [], 1.0)
        if woken in readable:
            os.read(woken, 4096)
        if channel in readable:
            header, fds, _, _ = socket.recv_fds(channel, _HEADER_BYTES, 4)
            if not header:  # the caller closed the socket: it is done
                return
            pid = os.fork()
            if pid == 0:
                channel.close()
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.close(woken)
                os.close(wake)
                _child(json.loads(header), fds, me)
            for fd in fds:
                os.close(fd)
            children.add(pid)
            channel.send(json.dumps({"pid": pid}).encode())
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                children.discard(pid)
                code = os.waitstatus_to_exitcode(status)
                channel.send(json.dumps({"exit": pid, "status": code}).encode())


def _child(request: dict, fds: list[int], server: int) -> None:
    """In the forked child: become the caller's process (directory, environment, path, output) and run;
    ``server`` is the pid that forked it (if it died before the death signal was asked for, exit)."""
    from tightfit._guard_child import _die_with_parent, run

    code = 0
    try:
        os.setsid()  # its own session: the caller kills the child and its workers as one group
        _die_with_parent(server)
        payload, out, stdout, stderr = fds
        os.dup2(stdout, 1)
        os.dup2(stderr, 2)
        os.close(stdout)
        os.close(stderr)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.path[:] = request["sys_path"]
        with os.fdopen(payload, "rb") as source:
            run(source, os.fdopen(out, "wb"), int(request["limit"]))
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    main()
