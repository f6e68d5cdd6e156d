"""`Measured`, `Verdict`, `Entry`: one candidate of any search, what was measured of it and what was decided.

Every workload speaks this vocabulary: a verdict is ``chosen``, ``fits``, ``over_limit`` (with the limit,
the measured value and the cap), ``failed`` (with the error) or ``skipped`` (with the reason, such as the
time left). Figures are bytes and seconds; human units appear only when a table or report prints them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from tightfit.units import format_bytes, format_seconds

__all__ = ["FIGURES", "LIMIT_FORMAT", "STATUSES", "Entry", "Measured", "Verdict"]

STATUSES = ("chosen", "fits", "over_limit", "failed", "skipped")


@dataclass
class Measured:
    """What was measured of one entry; ``None`` means not measured.

    ``peak_bytes``: peak RSS of the process that evaluated it (the guard's figure for a child);
    ``device_peak_bytes``: CUDA peak; ``wall_s``: wall time of the evaluation; ``fit_s``: the workload's
    own fit-time figure (median fold, one validation window); ``projected_s``: the time the full job would
    take, predicted from a measured trial (compared with a time budget where given); ``latency_p50_s`` /
    ``latency_p95_s`` at ``latency_batch`` rows; ``size_bytes`` on disk or in memory; ``quality`` under
    ``metric``, better when higher if ``higher_is_better``. ``extra`` holds workload figures (validation
    loss, other metrics, p50 at other batch sizes), with the same unit suffixes.
    """

    peak_bytes: int | None = None
    device_peak_bytes: int | None = None
    wall_s: float | None = None
    fit_s: float | None = None
    projected_s: float | None = None
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    latency_batch: int | None = None
    size_bytes: int | None = None
    quality: float | None = None
    metric: str = ""
    higher_is_better: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in dataclasses.asdict(self).items() if k != "extra"}
        return out | {"extra": dict(self.extra)}

    def flat(self) -> dict[str, Any]:
        """One level: the quality under its metric's name, extras beside the named figures."""
        out = {k: v for k, v in dataclasses.asdict(self).items() if k not in ("extra", "quality", "metric")}
        out.pop("higher_is_better")
        if self.metric:
            out[self.metric] = self.quality
        return out | self.extra

    @property
    def memory_peak_bytes(self) -> int | None:
        """The figure a memory budget is held to: the CUDA peak where the device was used, else the RSS peak."""
        return self.device_peak_bytes or self.peak_bytes


LIMIT_FORMAT = {"memory": format_bytes, "ram": format_bytes, "size": format_bytes, "time": format_seconds,
                "latency": format_seconds}  # fmt: skip
_WORDS = {"memory": "peak memory", "ram": "peak RAM", "time": "time", "latency": "latency p95", "size": "size"}
FIGURES = {"memory": "peak_bytes", "ram": "peak_bytes", "latency": "latency_p95_s", "size": "size_bytes"}


@dataclass
class Verdict:
    """What the search decided about an entry, and why. Build one with the class methods."""

    status: str = "skipped"
    reason: str = ""
    limit: str | None = None
    observed: float | None = None
    cap: float | None = None

    @classmethod
    def chosen(cls, reason: str) -> Verdict:
        return cls("chosen", reason)

    @classmethod
    def fits(cls, reason: str = "fits the budget") -> Verdict:
        return cls("fits", reason)

    @classmethod
    def over_limit(cls, limit: str, observed: float | None, cap: float, reason: str = "") -> Verdict:
        """``limit`` was exceeded: ``observed`` (None when unmeasurable, such as a killed child) over ``cap``."""
        if not reason:
            words, fmt = _WORDS.get(limit, limit), LIMIT_FORMAT.get(limit, str)
            seen = "an unknown amount" if observed is None else fmt(observed)
            reason = f"{words} {seen} > {fmt(cap)}"
        return cls("over_limit", reason, limit, observed, cap)

    @classmethod
    def failed(cls, error: BaseException | str) -> Verdict:
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        return cls("failed", text.strip()[:600])

    @classmethod
    def skipped(cls, reason: str, limit: str | None = None) -> Verdict:
        return cls("skipped", reason, limit)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Entry:
    """One candidate: its ``name``, the ``spec`` the workload builds it from, and what the search found.

    ``artefact`` is what the evaluation produced (a fitted pipeline, a compressed variant, a forecast) and is
    never serialised; ``details`` holds workload facts worth reporting that are not measurements (an
    estimate, the exporter used).
    """

    name: str
    spec: Any = None
    measured: Measured | None = None
    verdict: Verdict = field(default_factory=Verdict)
    details: dict[str, Any] = field(default_factory=dict)
    artefact: Any = field(default=None, repr=False)

    @property
    def status(self) -> str:
        return self.verdict.status

    @property
    def reason(self) -> str:
        return self.verdict.reason

    def to_dict(self) -> dict[str, Any]:
        spec = self.spec.to_dict() if hasattr(self.spec, "to_dict") else self.spec
        return {
            "name": self.name,
            "spec": spec if isinstance(spec, (dict, list, str, int, float, type(None))) else repr(spec),
            "measured": None if self.measured is None else self.measured.to_dict(),
            "verdict": self.verdict.to_dict(),
            "details": self.details,
        }
