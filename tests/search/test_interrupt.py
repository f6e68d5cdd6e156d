"""Ctrl-C during a search: the running entry's child and its workers are killed (no orphan processes), the
finished entries are kept with their verdicts, and the search still chooses among them."""

import os
import signal
import subprocess
import sys
import threading
import time

import psutil

from tightfit import Budget
from tightfit.search import Entry, Measured, run_candidates


def quick_or_stuck(spec, time_left):
    if spec != "quick":  # a child with a worker of its own, both stuck; the marker says the worker is up
        worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        with open(spec, "w") as marker:
            marker.write(str(worker.pid))
        worker.wait()
    return Measured(quality=1.0, metric="score")


def test_ctrl_c_keeps_the_finished_entries_and_leaves_no_orphans(tmp_path):
    marker = tmp_path / "worker.pid"
    entries = [Entry("quick", "quick"), Entry("stuck", str(marker)), Entry("never", "quick")]

    def interrupt_once_the_worker_runs():
        while not marker.exists() or not marker.read_text():
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C as a user's terminal sends it
    try:
        started = time.perf_counter()
        threading.Thread(target=interrupt_once_the_worker_runs, daemon=True).start()
        board = run_candidates(entries, Budget(), quick_or_stuck, verbose=False)
        assert time.perf_counter() - started < 45
    finally:
        signal.signal(signal.SIGINT, previous)
    assert [e.status for e in board.entries] == ["chosen", "skipped", "skipped"]
    assert "interrupted" in board["stuck"].reason and "not started" in board["never"].reason
    assert board.interrupted and board.to_dict()["interrupted"]
    worker = int(marker.read_text())
    deadline = time.monotonic() + 10
    while psutil.pid_exists(worker) and psutil.Process(worker).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the child's worker outlived the interrupted search"
        time.sleep(0.1)
    guarded = []  # a fresh child (tightfit._guard_child) or one forked by the warm server (a server's child)
    for process in psutil.Process().children(recursive=True):
        try:
            command = " ".join(process.cmdline())
            forked = "tightfit._guard_server" in command and process.ppid() != os.getpid()
            if ("tightfit._guard_child" in command or forked) and process.status() != psutil.STATUS_ZOMBIE:
                guarded.append(process)
        except psutil.Error:  # ended while we looked
            continue
    assert guarded == []
