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
    if spec == "stuck":  # a child with a worker of its own, both stuck
        subprocess.run([sys.executable, "-c", "import time; time.sleep(120)"], check=False)
    return Measured(quality=1.0, metric="score")


def test_ctrl_c_keeps_the_finished_entries_and_leaves_no_orphans():
    started = time.perf_counter()
    entries = [Entry("quick", "quick"), Entry("stuck", "stuck"), Entry("never", "quick")]

    def command_line(process) -> str:
        try:
            return " ".join(process.cmdline())
        except psutil.Error:  # a process that ended between the listing and this call
            return ""

    def interrupt_once_stuck_runs():
        while time.perf_counter() - started < 60:
            children = psutil.Process().children(recursive=True)
            if any("time.sleep(120)" in command_line(p) for p in children):
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.05)

    threading.Thread(target=interrupt_once_stuck_runs, daemon=True).start()
    board = run_candidates(entries, Budget(), quick_or_stuck, verbose=False)
    assert time.perf_counter() - started < 60
    assert [e.status for e in board.entries] == ["chosen", "skipped", "skipped"]
    assert "interrupted" in board["stuck"].reason and "not started" in board["never"].reason
    assert board.interrupted and board.to_dict()["interrupted"]
    time.sleep(0.5)
    assert [p for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE] == []
