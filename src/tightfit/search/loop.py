"""`run_candidates`: the one candidate loop every workload uses.

For each entry, cheapest first: skip it when the search's deadline leaves too little time or enough cheaper
entries already fit; let the workload ``screen`` it without running (the planner's fake-tensor estimate);
run ``evaluate(spec, time_left)`` through an executor (a guarded child by default, under the memory cap and
the time left); fill in what the guard measured; judge the figures against the budget's limits in one
vocabulary; let the workload ``check`` its own rule (a quality drop, an OOM back-off). Then choose among the
entries that fit, name the binding limit with :func:`~tightfit.search.triage`, and return a
:class:`~tightfit.search.Leaderboard`. An ``evaluate`` that raises is a ``failed`` entry, never a crashed
search; Ctrl-C stops the running entry (the guard kills its child and the child's workers) and keeps every
finished one, so the caller can still choose among them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tightfit.budget import Budget
from tightfit.errors import BudgetExceeded, TightfitError
from tightfit.params import Interval, check
from tightfit.progress import StepProgress
from tightfit.registry import Registry
from tightfit.search.binding import triage
from tightfit.search.entry import Entry, Measured, Verdict
from tightfit.search.executors import EXECUTORS, check_executor
from tightfit.search.leaderboard import Leaderboard
from tightfit.units import format_bytes, format_seconds

__all__ = ["LIMITS_JUDGED", "Outcome", "SkipEntry", "judge", "run_candidates"]

log = logging.getLogger(__name__)
TIE_BAND = 0.02  # p50s within 2% are a tie: timing noise on a shared CPU is larger than that

LIMITS_JUDGED = ("memory", "ram", "time", "latency", "size")


class SkipEntry(TightfitError):
    """Raised by an ``evaluate`` that decides, from what it measured so far, not to finish (``reason`` says
    why; ``limit`` names the budget limit behind it, such as ``"time"``)."""

    def __init__(self, reason: str, limit: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.limit = reason, limit

    def __reduce__(self):  # crosses the guard's process boundary intact
        return (type(self), (self.reason, self.limit))


@dataclass
class Outcome:
    """What an ``evaluate`` may return instead of a bare :class:`Measured`: the figures, the artefact it built,
    details worth reporting, and follow-up entries to evaluate right after this one (a fallback variant)."""

    measured: Measured
    artefact: Any = None
    details: dict[str, Any] = field(default_factory=dict)
    follow_ups: list[Entry] = field(default_factory=list)


def judge(measured: Measured, budget: Budget, applies: Iterable[str], margin: float = 0.0) -> Verdict | None:
    """Every stated limit ``measured`` breaks, as one ``over_limit`` verdict (the first broken limit, all the
    reasons); None when all hold.

    Memory is held to ``(1 - margin)`` of the cap: a short measurement's peak varies and can creep up later.
    The time limit applies to a projected full-job time (``projected_s``), not to the evaluation itself.
    """
    applies = set(applies)
    broken: list[Verdict] = []
    memory = measured.memory_peak_bytes
    if "memory" in applies and budget.memory is not None and memory is not None:
        if memory > budget.memory:
            broken.append(Verdict.over_limit("memory", memory, budget.memory))
        elif memory > (1 - margin) * budget.memory:
            broken.append(Verdict.over_limit("memory", memory, budget.memory, (
                f"measured peak {format_bytes(memory)} within the {margin:.0%} safety margin of the budget "
                f"{format_bytes(budget.memory)}")))  # fmt: skip
    if "ram" in applies and budget.ram is not None and (measured.peak_bytes or 0) > budget.ram:
        broken.append(Verdict.over_limit("ram", measured.peak_bytes, budget.ram))
    if "time" in applies and budget.time is not None and (measured.projected_s or 0) > budget.time:
        broken.append(
            Verdict.over_limit(
                "time",
                measured.projected_s,
                budget.time,
                (f"predicted fit time {format_seconds(measured.projected_s)} > budget {format_seconds(budget.time)}"),
            )
        )
    if "latency" in applies and budget.latency is not None and (measured.latency_p95_s or 0) > budget.latency:
        batch = f" at batch {measured.latency_batch}" if measured.latency_batch else ""
        broken.append(
            Verdict.over_limit(
                "latency",
                measured.latency_p95_s,
                budget.latency,
                (f"latency p95 {format_seconds(measured.latency_p95_s)}{batch} > {format_seconds(budget.latency)}"),
            )
        )
    if "size" in applies and budget.size is not None and (measured.size_bytes or 0) > budget.size:
        broken.append(Verdict.over_limit("size", measured.size_bytes, budget.size))
    return _merge(broken)


def _merge(verdicts: list[Verdict | None]) -> Verdict | None:
    """One verdict for several broken limits: the first one's limit and figures, every reason."""
    verdicts = [v for v in verdicts if v is not None]
    if not verdicts:
        return None
    first = verdicts[0]
    return Verdict(first.status, "; ".join(v.reason for v in verdicts), first.limit, first.observed, first.cap)


def best_quality(fits: list[Entry]) -> tuple[Entry, str]:
    """The default choice: the best quality (4 decimals), then the shortest fit or evaluation time."""

    def key(e: Entry) -> tuple:
        m = e.measured
        quality = m.quality if m.quality is not None else float("-inf" if m.higher_is_better else "inf")
        signed = round(quality, 4) if m.higher_is_better else -round(quality, 4)
        return (signed, -(m.fit_s if m.fit_s is not None else m.wall_s or 0.0))

    winner = max(fits, key=key)
    metric = winner.measured.metric or "quality"
    return winner, f"best {metric} among the {len(fits)} that fit"


def fastest_within_tie(fits: list[Entry], p50: Callable[[Entry], float]) -> Entry:
    """A serving choice: the entry with the smallest ``p50``, where p50s within ``TIE_BAND`` of it are a tie that
    the smallest ``size_bytes`` wins."""
    fastest = min(p50(e) for e in fits)
    tied = [e for e in fits if p50(e) <= fastest * (1 + TIE_BAND)]
    return min(tied, key=lambda e: (e.measured.size_bytes, p50(e)))


def _time_cap(left: float | None, cap: float | None) -> float | None:
    values = [v for v in (left, cap) if v is not None]
    return min(values) if values else None


def run_candidates(
    entries: Sequence[Entry],
    budget: Budget,
    evaluate: Callable[[Any, float | None], Measured | Outcome],
    *,
    order: Callable[[Entry], Any] | None = None,
    executor: str = "local",
    applies: Sequence[str] = ("memory", "latency", "size"),
    deadline: Any = None,
    entry_time_cap: float | None = None,
    min_seconds: float = 0.0,
    margin: float = 0.0,
    stop_after: int | None = None,
    same_failures: int | None = None,
    screen: Callable[[Entry], Verdict | None] | None = None,
    check_entry: Callable[[Entry], Verdict | None] | None = None,
    choose: Callable[[list[Entry]], tuple[Entry, str]] = best_quality,
    techniques: Registry | Iterable[Registry] | None = None,
    entity: str = "candidate",
    device: str = "cpu",
    preload: Sequence[str] = (),
    verbose: bool = True,
) -> Leaderboard:
    """Run ``entries`` under ``budget``; see the module docstring.

    Parameters
    ----------
    entries : sequence of Entry
        The candidates, each with the ``spec`` that ``evaluate`` builds it from.
    evaluate : callable
        ``evaluate(spec, time_left_s) -> Measured | Outcome``; may raise :class:`SkipEntry`.
    order : callable, default=None
        A sort key (cheapest first); None keeps the given order.
    executor : {"local", "inline", "ray"}, default="local"
        Where ``evaluate`` runs (:mod:`tightfit.search.executors`).
    applies : sequence of str
        The budget limits judged on each entry's figures (``"time"`` judges ``projected_s``).
    deadline : measure.Deadline, default=None
        Bounds the whole search: each entry runs under the time left and is skipped below ``min_seconds``.
    entry_time_cap : float, default=None
        A time limit of its own for each evaluation (a planner trial), under the deadline's.
    margin : float, default=0.0
        The share of the memory cap kept free (see :func:`judge`).
    stop_after : int, default=None
        Stop evaluating once this many entries fit; the rest are ``skipped`` with that reason.
    same_failures : int, default=None
        Stop evaluating once this many entries in a row failed with the same error: where every entry runs the
        same workload (a planner's configs), that is the workload's fault, not an entry's, and the rest would
        fail alike; they are ``skipped`` naming the error.
    screen, check_entry : callable, default=None
        The workload's own rules, before (no run) and after the evaluation; a returned Verdict is final.
    choose : callable, default=best_quality
        ``choose(fitting_entries) -> (entry, reason)``.
    techniques : Registry or list of Registry
        The registries whose ids :func:`triage` names as the remedy for the binding limit.
    entity : str
        What an entry is (``"model"``, ``"config"``, ``"variant"``): the first column of tables.
    preload : sequence of str, default=()
        Modules every ``local`` evaluation needs: imported once by the guard's warm server, not by each child.
    """
    check(
        "run_candidates",
        margin=(margin, Interval(float, 0, 1, closed="left")),
        stop_after=(stop_after, None, Interval(int, 1)),
        same_failures=(same_failures, None, Interval(int, 1)),
        budget=(budget, Budget),
    )
    for name in applies:
        if name not in LIMITS_JUDGED:
            raise ValueError(f"run_candidates: unknown limit {name!r} in applies; known: {LIMITS_JUDGED}")
    check_executor("run_candidates", executor)
    run = EXECUTORS[executor]
    queue = sorted(entries, key=order) if order is not None else list(entries)
    done: list[Entry] = []
    interrupted = False
    with StepProgress(len(queue), verbose, description=f"{entity}s") as progress:
        while queue:
            entry = queue.pop(0)
            try:
                follow_ups = _run_one(entry, budget, evaluate, run, applies, deadline, entry_time_cap, min_seconds,
                                      margin, stop_after, same_failures, done, screen, check_entry, device,
                                      preload)  # fmt: skip
            except KeyboardInterrupt:  # Ctrl-C: the guard has killed the running child; keep what finished
                log.warning("search interrupted during %s; keeping the %d finished entries", entry.name, len(done))
                entry.verdict = Verdict.skipped("interrupted (Ctrl-C) while it ran")
                for rest in queue:
                    rest.verdict = Verdict.skipped("not started: the search was interrupted (Ctrl-C)")
                done += [entry, *queue]
                queue, interrupted = [], True
                break
            queue[:0] = follow_ups
            progress.extend(len(follow_ups))
            done.append(entry)
            progress.advance(**{entity: entry.name, "verdict": entry.status})
    fits = [e for e in done if e.status == "fits"]
    if fits:
        winner, reason = choose(fits)
        winner.verdict = Verdict.chosen(reason)
    stated = {f for f in LIMITS_JUDGED if getattr(budget, f) is not None}
    honoured = set(applies) | ({"time"} if deadline is not None and deadline.seconds is not None else set())
    return Leaderboard(
        entries=done,
        budget=budget,
        binding=triage(budget, done, techniques),
        ignored=sorted(stated - honoured),
        entity=entity,
        search_s=None if deadline is None else deadline.elapsed(),
        interrupted=interrupted,
    )


def _run_one(entry, budget, evaluate, run, applies, deadline, entry_time_cap, min_seconds, margin, stop_after,
             same_failures, done, screen, check_entry, device, preload) -> list[Entry]:  # fmt: skip
    """Decide one entry in place; returns its follow-up entries."""
    n_fit = sum(e.status == "fits" for e in done)
    if stop_after is not None and n_fit >= stop_after:
        entry.verdict = Verdict.skipped(f"not tried: {stop_after} cheaper candidates were measured to fit")
        return []
    repeated = _repeated_failure(done, same_failures)
    if repeated is not None:
        entry.verdict = Verdict.skipped(f"not tried: the last {same_failures} failed alike ({repeated})")
        return []
    started, left = _time_to_start(entry, deadline, min_seconds)
    if not started:
        return []
    if screen is not None:
        try:
            screened = screen(entry)
        except Exception as exc:  # a screen that cannot judge an entry fails it, not the search
            entry.verdict = Verdict.failed(exc)
            return []
        if screened is not None:
            entry.verdict = screened
            return []
        started, left = _time_to_start(entry, deadline, min_seconds)  # the screen ran here, on the same clock
        if not started:
            return []
    cap = _time_cap(left, entry_time_cap)
    cuda = device.startswith("cuda")
    until = None if left is None else time.perf_counter() + left  # the child's start-up counts against it too
    try:
        guarded = run(evaluate, entry.spec, left, memory=None if cuda else budget.memory, time=cap,
                      cuda_memory=budget.memory if cuda else None, preload=preload, until=until)  # fmt: skip
    except BudgetExceeded as exc:
        entry.verdict = _exceeded(exc, budget)
        return []
    except SkipEntry as exc:
        entry.verdict = Verdict.skipped(exc.reason, exc.limit)
        return []
    except Exception as exc:  # one entry's failure is its row, with the reason
        log.info("search: %s failed: %s", entry.name, exc)
        entry.verdict = Verdict.failed(exc)
        return []
    outcome = guarded.value if isinstance(guarded.value, Outcome) else Outcome(guarded.value)
    if not isinstance(outcome.measured, Measured):
        entry.verdict = Verdict.failed(f"evaluate returned {type(outcome.measured).__name__}, not Measured")
        return []
    measured = outcome.measured
    if measured.peak_bytes is None:
        measured.peak_bytes = guarded.peak_rss_bytes
    if measured.device_peak_bytes is None and guarded.device_peak_bytes:
        measured.device_peak_bytes = guarded.device_peak_bytes
    if measured.wall_s is None:
        measured.wall_s = guarded.wall_s
    entry.measured, entry.artefact = measured, outcome.artefact
    entry.details |= outcome.details
    own = check_entry(entry) if check_entry is not None else None
    entry.verdict = _merge([judge(measured, budget, applies, margin), own]) or Verdict.fits()
    return outcome.follow_ups


def _repeated_failure(done: list[Entry], times: int | None) -> str | None:
    """The error the last ``times`` entries that ran all failed with, or None."""
    if times is None:
        return None
    ran = [e for e in done if e.measured is not None or e.status == "failed"]
    last = [e.reason for e in ran[-times:] if e.status == "failed"]
    return last[0] if len(last) == times and len(set(last)) == 1 else None


def _time_to_start(entry: Entry, deadline, min_seconds: float) -> tuple[bool, float | None]:
    """(whether ``entry`` may start, the deadline's time left); marks it skipped when less than ``min_seconds``
    is left."""
    left = None if deadline is None else deadline.left()
    if left is None or left >= max(min_seconds, 1e-3):
        return True, left
    floor = f" (none is started with less than {format_seconds(min_seconds)})" if left > 1e-3 else ""
    entry.verdict = Verdict.skipped(
        f"the time budget ran out before it started: {format_seconds(left)} left of "
        f"{format_seconds(deadline.seconds)}{floor}",
        "time",
    )
    return False, left


def _exceeded(exc: BudgetExceeded, budget: Budget) -> Verdict:
    if exc.kind == "time":
        return Verdict.over_limit("time", exc.observed, exc.limit,
                                  f"did not finish in the {format_seconds(exc.limit)} it was given")  # fmt: skip
    limit = exc.limit or budget.memory or 0
    detail = f" ({exc.detail})" if exc.detail else ""
    return Verdict.over_limit(exc.kind, exc.observed, limit, f"memory over the {format_bytes(limit)} cap{detail}")
