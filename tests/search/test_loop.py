"""run_candidates: one loop, one vocabulary. Failures become rows, limits are judged from measured figures,
the deadline skips with the time left, follow-ups run next, and the guard measures a child's whole process tree."""

import subprocess
import sys

import pytest

from tightfit import Budget, ConfigError
from tightfit.guard import run_measured
from tightfit.measure import Deadline
from tightfit.registry import Registry
from tightfit.report import print_table
from tightfit.search import Entry, Measured, Outcome, SkipEntry, Verdict, run_candidates, triage


def quality_and_size(spec, time_left):
    if spec == "boom":
        raise RuntimeError("the model exploded at step 3")
    if spec == "skip":
        raise SkipEntry("not available here")
    return Measured(quality=spec, metric="accuracy", size_bytes=int(spec * 10_000), fit_s=spec)


def test_a_failing_evaluate_is_a_failed_row_and_limits_are_judged_from_figures():
    entries = [Entry("small", 0.5), Entry("broken", "boom"), Entry("big", 0.9), Entry("absent", "skip")]
    board = run_candidates(entries, Budget(size="8kB"), quality_and_size, executor="inline", applies=("size",),
                           verbose=False)  # fmt: skip
    status = {e.name: e.status for e in board.entries}
    assert status == {"small": "chosen", "broken": "failed", "big": "over_limit", "absent": "skipped"}
    assert board["broken"].reason == "RuntimeError: the model exploded at step 3"
    assert board["big"].reason == "size 9kB > 8kB" and board["big"].verdict.observed == 9000
    assert board.binding.binding == "size"
    assert board.binding.evidence == "size: 1 of 3 candidates exceeded 8kB; the chosen one measured 5kB"


def test_nothing_fits_leaves_no_choice_and_every_reason():
    board = run_candidates([Entry("a", 0.5), Entry("b", 0.7)], Budget(size="1kB"), quality_and_size,
                           executor="inline", applies=("size",), verbose=False)  # fmt: skip
    assert board.chosen is None and all(e.status == "over_limit" and e.reason for e in board.entries)
    assert board.binding.evidence.endswith("none fits")


def test_order_stop_after_and_follow_ups():
    seen = []

    def evaluate(spec, time_left):
        seen.append(spec)
        follow = [Entry(f"{spec}-fallback", spec + 100)] if spec == 2 else []
        return Outcome(Measured(quality=float(spec), metric="score"), follow_ups=follow)

    entries = [Entry(str(i), i) for i in (3, 1, 2, 4)]
    board = run_candidates(entries, Budget(), evaluate, order=lambda e: e.spec, executor="inline", stop_after=3,
                           verbose=False)  # fmt: skip
    assert seen == [1, 2, 102]  # cheapest first; the follow-up runs right after the entry that made it
    assert [e.name for e in board.entries] == ["1", "2", "2-fallback", "3", "4"]
    assert board["3"].status == "skipped" and "3 cheaper candidates were measured to fit" in board["3"].reason
    assert board.chosen.name == "2-fallback"


def test_a_spent_deadline_skips_with_the_time_left_and_names_time():
    deadline = Deadline(0.05)
    while deadline.left() > 0:
        pass
    board = run_candidates([Entry("late", 0.5)], Budget(time=0.05), quality_and_size, executor="inline",
                           deadline=deadline, verbose=False)  # fmt: skip
    entry = board["late"]
    assert entry.status == "skipped" and entry.verdict.limit == "time" and "ran out before it started" in entry.reason
    assert board.binding.binding == "time"


def sleep_for(spec, time_left):
    import time

    time.sleep(spec)
    return Measured(quality=1.0 / (1.0 + spec), metric="accuracy")


def test_time_evidence_counts_candidates_stopped_in_the_time_left_not_one_cap():
    """Each candidate gets the time left when it starts, so no one cap is 'the' limit: the evidence said "1 of 7
    candidates exceeded 31.1ms" of a 20 s forecasting budget (the last one's share)."""
    board = run_candidates([Entry("quick", 0.0), Entry("slow", 30.0)], Budget(time=6.0), sleep_for, executor="local",
                           deadline=Deadline(6.0), verbose=False)  # fmt: skip
    assert board["slow"].status == "over_limit" and board["slow"].verdict.limit == "time"
    assert board.binding.binding == "time"
    assert board.binding.evidence.startswith("time: 1 of 2 candidates did not finish in the time left to them; ")


def test_the_screen_runs_on_the_deadline_clock():
    import time

    given = []

    def slow_screen(entry):
        time.sleep(entry.spec)  # an estimate in this process (the planner's fake-tensor trace) takes time too

    def record(spec, time_left):
        given.append(time_left)
        return Measured(quality=1.0, metric="accuracy")

    deadline = Deadline(0.5)
    board = run_candidates([Entry("quick screen", 0.2), Entry("slow screen", 0.4)], Budget(), record,
                           executor="inline", deadline=deadline, screen=slow_screen, verbose=False)  # fmt: skip
    assert len(given) == 1 and given[0] <= 0.5 - 0.2  # the first entry's evaluation got what its screen left
    late = board["slow screen"]
    assert late.status == "skipped" and late.verdict.limit == "time" and "ran out before it started" in late.reason


def test_screen_and_own_check_and_ignored_fields():
    def screen(entry):
        return Verdict.over_limit("memory", 3e9, 2e9, "estimated peak 3GB > budget 2GB") if entry.spec > 0.8 else None

    def own(entry):
        return Verdict.over_limit("quality", 0.2, 0.1, "quality drop 0.2 > 0.1") if entry.spec < 0.6 else None

    budget = Budget(memory="2GB", latency="10ms")
    board = run_candidates([Entry("a", 0.5), Entry("b", 0.7), Entry("c", 0.9)], budget, quality_and_size,
                           executor="inline", applies=("memory",), screen=screen, check_entry=own,
                           verbose=False)  # fmt: skip
    assert [e.status for e in board.entries] == ["over_limit", "chosen", "over_limit"]
    assert board["c"].measured is None and board["a"].reason == "quality drop 0.2 > 0.1"
    assert board.ignored == ["latency"]


def test_bad_arguments_are_named():
    with pytest.raises(ConfigError, match="'executor' parameter of run_candidates"):
        run_candidates([], Budget(), quality_and_size, executor="ray-cluster")
    with pytest.raises(ConfigError, match="'budget' parameter of run_candidates"):
        run_candidates([], "2GB", quality_and_size)


def test_an_unknown_registry_id_names_the_closest():
    registry = Registry("demo technique")
    registry.register("dynamic_int8", object(), relaxes=("latency",))
    with pytest.raises(ConfigError, match="did you mean 'dynamic_int8'"):
        registry.technique("dynamic_int"), registry["dynamik_int8"]
    with pytest.raises(ValueError, match="unknown limits"):
        registry.register("x", object(), relaxes=("speed",))
    assert triage(Budget(latency="1ms"), [Entry("m", verdict=Verdict.over_limit("latency", 0.002, 0.001))],
                  registry).techniques == ["dynamic_int8"]  # fmt: skip


def _worker_tree(mb: int) -> int:
    """A child that starts a worker process holding ``mb`` MB while the child itself stays small."""
    code = f"b = bytearray({mb} * 10**6); import time; time.sleep(1.0)"
    return subprocess.run([sys.executable, "-c", code], check=True).returncode


def test_the_guard_measures_the_childs_worker_processes_too():
    own = run_measured(sum, [1, 2])
    with_worker = run_measured(_worker_tree, 300)
    assert with_worker.value == 0
    assert with_worker.peak_rss_bytes > own.peak_rss_bytes + 250e6  # the worker's 300 MB is counted
    assert with_worker.wall_s >= 1.0 and own.wall_s < 1.0


@pytest.mark.parametrize("columns", [80, 200])
def test_terminal_tables_never_cut_a_number(columns, capsys):
    board = run_candidates(
        [Entry("a-rather-long-candidate-name", 0.987654321), Entry("b", 0.123456789), Entry("c", "boom")],
        Budget(size="5kB"), quality_and_size, executor="inline", applies=("size",), verbose=False,
    )  # fmt: skip
    rows, notes = board.rows()
    print_table("demo", rows, notes, width=columns)
    printed = capsys.readouterr().out
    assert "…" not in printed
    for row in rows:
        for cell in row.values():
            assert cell in printed, cell
    assert "RuntimeError: the model exploded at step 3" in printed  # the reason, whole, as a footnote
    assert max(len(line) for line in printed.splitlines() if "│" in line) <= columns
